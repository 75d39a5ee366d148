#include "crypto.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/identity.hpp>

#include <climits>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <set>
#include <string>

namespace zsimem {
namespace {

// Longer bearer tokens are refused unread: a JWT with a few claims is well
// under 2 KiB, and the limit bounds the work an unauthenticated caller causes.
constexpr std::size_t k_max_token_bytes = 8192;
// RFC 7518 §3.2: an HS256 key must be at least as long as the hash.
constexpr std::size_t k_min_hs256_secret_bytes = 32;
// RFC 7518 §3.3: RSA keys for RS256 must have 2048 bits or more.
constexpr int k_min_rsa_bits = 2048;
// The last second of 9999: later NumericDates (and negative ones) are refused,
// so every accepted time can be shown in a message and added to without overflow.
constexpr std::int64_t k_max_numeric_date = 253402300799;
constexpr std::int64_t k_micros_per_second = 1000000;

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

enum class Algorithm { hs256, rs256 };

[[noreturn]] void refuse(const std::string& why) { throw Error(ErrorCode::unauthenticated, why); }

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

// Base64url without padding (RFC 7515 §2). '=' and every character outside
// the alphabet are refused, and so are non-canonical spellings (a length of
// 4n+1, or unused bits that are not zero), so that a token has one spelling.
std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    std::uint32_t value = 0;
    if (c >= 'A' && c <= 'Z') {
      value = static_cast<std::uint32_t>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      value = static_cast<std::uint32_t>(c - 'a') + 26;
    } else if (c >= '0' && c <= '9') {
      value = static_cast<std::uint32_t>(c - '0') + 52;
    } else if (c == '-') {
      value = 62;
    } else if (c == '_') {
      value = 63;
    } else {
      return std::nullopt;
    }
    buffer = (buffer << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(static_cast<unsigned char>((buffer >> bits) & 0xffU));
      buffer &= (1U << bits) - 1U;
    }
  }
  if (bits >= 6 || buffer != 0) {
    return std::nullopt;
  }
  return out;
}

// A NumericDate claim (seconds since 1970, possibly fractional) as a time;
// nullopt when it is not a number between 1970 and 9999.
std::optional<Timestamp> numeric_date(const Json& value) {
  std::int64_t micros = 0;
  if (value.is_number_unsigned()) {
    const auto seconds = value.get<std::uint64_t>();
    if (seconds > static_cast<std::uint64_t>(k_max_numeric_date)) {
      return std::nullopt;
    }
    micros = static_cast<std::int64_t>(seconds) * k_micros_per_second;
  } else if (value.is_number_integer()) {
    const auto seconds = value.get<std::int64_t>();
    if (seconds < 0 || seconds > k_max_numeric_date) {
      return std::nullopt;
    }
    micros = seconds * k_micros_per_second;
  } else if (value.is_number_float()) {
    const auto seconds = value.get<double>();
    if (!(seconds >= 0.0 && seconds <= static_cast<double>(k_max_numeric_date))) {
      return std::nullopt;
    }
    micros = static_cast<std::int64_t>(std::llround(seconds * static_cast<double>(k_micros_per_second)));
  } else {
    return std::nullopt;
  }
  return from_micros(micros);
}

// RFC 3339 without the fraction when it is zero, as NumericDates usually are.
std::string format_time(Timestamp t) {
  std::string text = format_rfc3339(t);
  if (const auto fraction = text.find(".000000Z"); fraction != std::string::npos) {
    text.replace(fraction, 8, "Z");
  }
  return text;
}

// The token's algorithm, quoted only when it looks like an algorithm name, so
// that a message never carries an arbitrary piece of the token.
std::string algorithm_name(const std::string& alg) {
  const bool plain = !alg.empty() && alg.size() <= 16 && std::all_of(alg.begin(), alg.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '+' || c == '.';
  });
  return plain ? "algorithm " + alg : "algorithm";
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  return text;
}

// The algorithm the header names, when it is one with a key configured. "typ"
// is optional; when present it must say the token is a JWT (RFC 7519 §5.1) or
// an access token (RFC 9068 "at+jwt"), so that other kinds of JWS (DPoP
// proofs, security events …) signed with the same key are not taken for one.
Algorithm check_header(const JwtSettings& settings, const Json& header) {
  const auto alg = header.find("alg");
  if (alg == header.end()) {
    refuse("the token's header names no algorithm (alg)");
  }
  if (!alg->is_string()) {
    refuse("the token's header alg is not a string");
  }
  const auto& name = alg->get_ref<const std::string&>();
  if (name == "HS256") {
    if (settings.hs256_secret.empty()) {
      refuse("the token's algorithm HS256 is not accepted: no HS256 secret is configured");
    }
  } else if (name == "RS256") {
    if (settings.rs256_public_key_pem.empty()) {
      refuse("the token's algorithm RS256 is not accepted: no RS256 public key is configured");
    }
  } else if (name == "none") {
    refuse("the token's algorithm none is not accepted: tokens must be signed with HS256 or RS256");
  } else {
    refuse("the token's " + algorithm_name(name) + " is not accepted: use HS256 or RS256");
  }
  if (const auto typ = header.find("typ"); typ != header.end()) {
    static const std::set<std::string, std::less<>> k_jwt_types = {"jwt", "application/jwt", "at+jwt",
                                                                   "application/at+jwt"};
    if (!typ->is_string() || !k_jwt_types.contains(lowercase(typ->get<std::string>()))) {
      refuse("the token's type (typ) is not JWT");
    }
  }
  // RFC 7515 §4.1.11: extensions marked critical must be understood; we understand none.
  if (header.contains("crit")) {
    refuse("the token's header lists critical extensions (crit), which are not supported");
  }
  return name == "HS256" ? Algorithm::hs256 : Algorithm::rs256;
}

bool verify_hs256(const std::string& secret, std::string_view input, const std::string& signature) {
  const crypto::Mac mac = crypto::hmac_sha256(secret, input);
  return crypto::equal_in_constant_time({reinterpret_cast<const char*>(mac.data()), mac.size()}, signature);
}

// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
bool verify_rs256(EVP_PKEY* key, std::string_view input, const std::string& signature) {
  const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_ctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &key_ctx, EVP_sha256(), nullptr, key) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(key_ctx, RSA_PKCS1_PADDING) != 1) {
    ERR_clear_error();
    throw Error(ErrorCode::internal, "OpenSSL could not set up an RS256 verification");
  }
  const bool verified =
      EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(input), input.size()) == 1;
  ERR_clear_error();
  return verified;
}

Pkey load_rsa_public_key(const std::string& pem) {
  if (pem.size() > static_cast<std::size_t>(INT_MAX)) {
    throw Error(ErrorCode::invalid, "the RS256 public key is too long to be a PEM public key");
  }
  const std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  // No passphrase callback: a public key has none, and a daemon must never prompt on a terminal.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  ERR_clear_error();
  if (!key) {
    throw Error(ErrorCode::invalid,
                "the RS256 public key is not a PEM public key (-----BEGIN PUBLIC KEY-----, as `openssl rsa -pubout` "
                "writes)");
  }
  if (EVP_PKEY_is_a(key.get(), "RSA") != 1) {
    throw Error(ErrorCode::invalid, "the RS256 public key is not an RSA key");
  }
  if (EVP_PKEY_get_bits(key.get()) < k_min_rsa_bits) {
    throw Error(ErrorCode::invalid, "the RS256 public key has fewer than 2048 bits (RFC 7518 §3.3)");
  }
  return key;
}

// The roles claim: an array of strings, or one string of space-separated
// roles (as OAuth writes "scope"). Empty and repeated roles are dropped.
std::vector<std::string> roles_of(const JwtSettings& settings, const Json& claims) {
  std::vector<std::string> roles;
  const auto add = [&roles](std::string role) {
    if (!role.empty() && std::find(roles.begin(), roles.end(), role) == roles.end()) {
      roles.push_back(std::move(role));
    }
  };
  const auto claim = claims.find(settings.roles_claim);
  if (claim == claims.end()) {
    return roles;
  }
  const std::string problem = "the token's " + settings.roles_claim +
                              " claim must be an array of strings or one string of space-separated roles";
  if (claim->is_string()) {
    const auto& text = claim->get_ref<const std::string&>();
    std::size_t start = 0;
    while (start <= text.size()) {
      const auto end = std::min(text.find(' ', start), text.size());
      add(text.substr(start, end - start));
      start = end + 1;
    }
  } else if (claim->is_array()) {
    for (const Json& role : *claim) {
      if (!role.is_string()) {
        refuse(problem);
      }
      add(role.get<std::string>());
    }
  } else {
    refuse(problem);
  }
  return roles;
}

// Further claims as text: strings as they are, integers in decimal, booleans
// as "true"/"false". Fractions, nulls, objects and arrays are left out, and
// so are the claims that have a meaning of their own here.
std::map<std::string, std::string, std::less<>> attributes_of(const JwtSettings& settings, const Json& claims) {
  std::map<std::string, std::string, std::less<>> attributes;
  for (const auto& [name, value] : claims.items()) {
    if (name == "sub" || name == "exp" || name == "nbf" || name == "iat" || name == settings.roles_claim) {
      continue;
    }
    if (value.is_string()) {
      attributes.emplace(name, value.get<std::string>());
    } else if (value.is_boolean()) {
      attributes.emplace(name, value.get<bool>() ? "true" : "false");
    } else if (value.is_number_unsigned()) {
      attributes.emplace(name, std::to_string(value.get<std::uint64_t>()));
    } else if (value.is_number_integer()) {
      attributes.emplace(name, std::to_string(value.get<std::int64_t>()));
    }
  }
  return attributes;
}

bool audience_matches(const Json& aud, const std::string& audience) {
  if (aud.is_string()) {
    return aud.get_ref<const std::string&>() == audience;
  }
  if (aud.is_array()) {
    return std::any_of(aud.begin(), aud.end(), [&](const Json& entry) {
      return entry.is_string() && entry.get_ref<const std::string&>() == audience;
    });
  }
  return false;
}

Subject check_claims(const JwtSettings& settings, const Json& claims, Timestamp now) {
  const std::int64_t leeway = std::min<std::int64_t>(settings.leeway.count(), k_max_numeric_date) * k_micros_per_second;
  const std::int64_t now_micros = to_micros(now);

  const auto exp = claims.find("exp");
  if (exp == claims.end()) {
    refuse("the token has no expiry time (exp): tokens must expire");
  }
  const auto expires = numeric_date(*exp);
  if (!expires) {
    refuse("the token's exp claim is not a number of seconds since 1970 (up to the year 9999)");
  }
  // Accepted up to and including exp + leeway.
  if (now_micros > to_micros(*expires) + leeway) {
    refuse("the token has expired (exp " + format_time(*expires) + ")");
  }
  if (const auto nbf = claims.find("nbf"); nbf != claims.end()) {
    const auto not_before = numeric_date(*nbf);
    if (!not_before) {
      refuse("the token's nbf claim is not a number of seconds since 1970 (up to the year 9999)");
    }
    // Accepted from nbf - leeway on.
    if (now_micros < to_micros(*not_before) - leeway) {
      refuse("the token is not valid yet (nbf " + format_time(*not_before) + ")");
    }
  }
  if (!settings.issuer.empty()) {
    const auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || iss->get_ref<const std::string&>() != settings.issuer) {
      refuse("the token's issuer (iss) is not " + settings.issuer);
    }
  }
  if (!settings.audience.empty()) {
    const auto aud = claims.find("aud");
    if (aud == claims.end() || !audience_matches(*aud, settings.audience)) {
      refuse("the token's audience (aud) does not include " + settings.audience);
    }
  }
  const auto sub = claims.find("sub");
  if (sub == claims.end()) {
    refuse("the token names no subject (sub)");
  }
  if (!sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    refuse("the token's subject (sub) is not a non-empty string");
  }

  Subject subject;
  subject.id = sub->get<std::string>();
  subject.roles = roles_of(settings, claims);
  subject.attributes = attributes_of(settings, claims);
  return subject;
}

// A compact JWS (RFC 7515 §7.1): header, payload and signature in base64url,
// joined by dots. The signature is checked before the payload is read.
Subject verify_jwt(const JwtSettings& settings, EVP_PKEY* rsa_key, std::string_view token, Timestamp now) {
  const auto first_dot = token.find('.');
  const auto second_dot = token.find('.', first_dot + 1);
  const std::string_view signing_input = token.substr(0, second_dot);

  const auto header_text = base64url_decode(token.substr(0, first_dot));
  if (!header_text) {
    refuse("the token's header is not unpadded base64url");
  }
  const Json header = Json::parse(*header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    refuse("the token's header is not a JSON object");
  }
  const Algorithm algorithm = check_header(settings, header);

  const auto signature = base64url_decode(token.substr(second_dot + 1));
  if (!signature) {
    refuse("the token's signature is not unpadded base64url");
  }
  const bool verified = algorithm == Algorithm::hs256 ? verify_hs256(settings.hs256_secret, signing_input, *signature)
                                                      : verify_rs256(rsa_key, signing_input, *signature);
  if (!verified) {
    refuse("the token's signature does not verify");
  }

  const auto payload_text = base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  if (!payload_text) {
    refuse("the token's payload is not unpadded base64url");
  }
  const Json claims = Json::parse(*payload_text, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) {
    refuse("the token's payload is not a JSON object");
  }
  return check_claims(settings, claims, now);
}

} // namespace

struct Authenticator::Keys {
  Pkey rs256_public_key; // null unless an RS256 key is configured
};

Authenticator::Authenticator(IdentitySettings settings)
    : m_settings(std::move(settings)), m_keys(std::make_unique<Keys>()) {
  std::set<std::string, std::less<>> hashes;
  for (ApiToken& token : m_settings.tokens) {
    token.sha256_hex = lowercase(std::move(token.sha256_hex));
    const bool hex = token.sha256_hex.size() == 64 &&
                     std::all_of(token.sha256_hex.begin(), token.sha256_hex.end(),
                                 [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    if (!hex) {
      throw Error(ErrorCode::invalid,
                  "the API token of subject '" + token.subject.id + "' is not given as a SHA-256 in hex (64 digits)");
    }
    if (!hashes.insert(token.sha256_hex).second) {
      throw Error(ErrorCode::invalid, "two API tokens have the same hash (one of them is subject '" + token.subject.id +
                                          "'): each token must stand for one subject");
    }
  }
  if (!m_settings.jwt) {
    return;
  }
  const JwtSettings& jwt = *m_settings.jwt;
  if (!jwt.hs256_secret.empty() && jwt.hs256_secret.size() < k_min_hs256_secret_bytes) {
    throw Error(ErrorCode::invalid, "the HS256 secret is shorter than 32 bytes (RFC 7518 §3.2)");
  }
  if (jwt.hs256_secret.size() > static_cast<std::size_t>(INT_MAX)) {
    throw Error(ErrorCode::invalid, "the HS256 secret is too long");
  }
  if (!jwt.hs256_secret.empty() && jwt.hs256_secret == jwt.rs256_public_key_pem) {
    throw Error(ErrorCode::invalid,
                "the HS256 secret is the RS256 public key: anyone holding that public key could sign tokens");
  }
  if (jwt.leeway.count() < 0) {
    throw Error(ErrorCode::invalid, "the JWT leeway must not be negative");
  }
  if (!jwt.rs256_public_key_pem.empty()) {
    m_keys->rs256_public_key = load_rsa_public_key(jwt.rs256_public_key_pem);
  }
}

Authenticator::~Authenticator() = default;

Subject Authenticator::authenticate(std::string_view token, Timestamp now) const {
  if (token.empty()) {
    refuse("no token was given");
  }
  if (token.size() > k_max_token_bytes) {
    refuse("the token is longer than 8192 bytes");
  }
  // Every configured hash is compared, in constant time and without stopping
  // at a match, so the time taken tells nothing about the configured tokens.
  const std::string hash = sha256_hex(token);
  const ApiToken* match = nullptr;
  for (const ApiToken& candidate : m_settings.tokens) {
    const bool equal = CRYPTO_memcmp(hash.data(), candidate.sha256_hex.data(), hash.size()) == 0;
    match = equal ? &candidate : match;
  }
  if (match != nullptr) {
    return match->subject;
  }
  if (std::count(token.begin(), token.end(), '.') != 2) {
    refuse("unknown API token");
  }
  if (!m_settings.jwt) {
    refuse("unknown API token (the token looks like a JWT, but no JWT keys are configured)");
  }
  return verify_jwt(*m_settings.jwt, m_keys->rs256_public_key.get(), token, now);
}

} // namespace zsimem
