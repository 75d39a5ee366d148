#include "support/error_of.hpp"
#include "support/jwt_mint.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/identity.hpp>
#include <zsimem/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace zsimem;
using zsimem::testing::base64url;
using zsimem::testing::error_of;
using zsimem::testing::RsaKey;

namespace {

// Tokens are minted here at test time (support/jwt_mint.hpp) from these keys.
const std::string k_secret = "an HS256 secret of more than thirty-two bytes";
const std::string k_api_token = "zsk_3f9a1c0b7d2e4f6a8b9c0d1e2f3a4b5c";
const Timestamp k_now = parse_time("2026-11-29T10:00:00Z");
const std::int64_t k_now_s = to_micros(k_now) / 1000000;

// Generated once: a 2048-bit key takes a noticeable fraction of a second.
const RsaKey& signing_key() {
  static const RsaKey key;
  return key;
}
const RsaKey& other_key() {
  static const RsaKey key;
  return key;
}
const std::string& signing_pem() {
  static const std::string pem = signing_key().public_pem();
  return pem;
}

Json hs256_header() { return {{"alg", "HS256"}, {"typ", "JWT"}}; }
Json rs256_header() { return {{"alg", "RS256"}, {"typ", "JWT"}}; }

std::string unsigned_part(const Json& header, const Json& claims) {
  return testing::jwt_signing_input(header.dump(), claims.dump());
}
std::string hs256_token(const Json& claims, std::string_view secret = k_secret, const Json& header = hs256_header()) {
  return testing::hs256_jwt(claims.dump(), secret, header.dump());
}
std::string rs256_token(const Json& claims, const RsaKey& key = signing_key(), const Json& header = rs256_header()) {
  return testing::rs256_jwt(claims.dump(), key, header.dump());
}
// A token over already encoded parts, e.g. ones that are not valid base64url.
std::string hs256_over(const std::string& header_part, const std::string& payload_part) {
  return testing::hs256_jwt_over(header_part, payload_part, k_secret);
}

Json claims() {
  return {{"sub", "alice"},
          {"exp", k_now_s + 3600},
          {"iat", k_now_s - 60},
          {"iss", "https://issuer.example"},
          {"aud", "zsimem"},
          {"roles", {"reader", "writer"}},
          {"tenant", "acme"},
          {"level", 3},
          {"offset", -2},
          {"admin", false},
          {"ratio", 0.5},
          {"nothing", nullptr},
          {"profile", {{"team", "core"}}},
          {"groups", {"a", "b"}}};
}

JwtSettings jwt_settings() {
  JwtSettings jwt;
  jwt.hs256_secret = k_secret;
  jwt.rs256_public_key_pem = signing_pem();
  jwt.issuer = "https://issuer.example";
  jwt.audience = "zsimem";
  return jwt;
}

IdentitySettings settings(std::optional<JwtSettings> jwt = jwt_settings()) {
  IdentitySettings identity;
  identity.tokens.push_back({sha256_hex(k_api_token), Subject{"ci-bot", {"writer"}, {{"kind", "service"}}}});
  identity.jwt = std::move(jwt);
  return identity;
}

// The message refusing `token`. Checks that it is an unauthenticated error
// quoting neither the token, nor any part of it, nor a secret or key.
std::string refusal(const Authenticator& authenticator, const std::string& token, Timestamp now = k_now) {
  const Error error = error_of([&] { authenticator.authenticate(token, now); });
  CHECK(error.code() == ErrorCode::unauthenticated);
  std::string message = error.what();
  CHECK_FALSE(message.empty());
  CHECK(message.find(token) == std::string::npos);
  std::size_t start = 0;
  while (start <= token.size()) {
    const auto end = std::min(token.find('.', start), token.size());
    const std::string part = token.substr(start, end - start);
    if (part.size() >= 8) {
      CHECK(message.find(part) == std::string::npos);
    }
    start = end + 1;
  }
  CHECK(message.find(k_secret) == std::string::npos);
  CHECK(message.find(k_api_token) == std::string::npos);
  CHECK(message.find("PUBLIC KEY") == std::string::npos);
  CHECK(message.find(signing_pem().substr(27, 40)) == std::string::npos);
  return message;
}

using Catch::Contains;

} // namespace

TEST_CASE("a valid HS256 token gives its subject, roles and attributes", "[identity]") {
  const Authenticator authenticator(settings());
  const Subject subject = authenticator.authenticate(hs256_token(claims()), k_now);
  CHECK(subject.id == "alice");
  CHECK(subject.roles == std::vector<std::string>{"reader", "writer"});
  const std::map<std::string, std::string, std::less<>> expected = {
      {"tenant", "acme"}, {"level", "3"}, {"offset", "-2"}, {"admin", "false"}, {"iss", "https://issuer.example"},
      {"aud", "zsimem"}};
  CHECK(subject.attributes == expected);
}

TEST_CASE("a valid RS256 token gives its subject, roles and attributes", "[identity]") {
  const Authenticator authenticator(settings());
  Json token_claims = claims();
  token_claims["roles"] = " reader  admin reader";
  token_claims["verified"] = true;
  const Subject subject = authenticator.authenticate(rs256_token(token_claims), k_now);
  CHECK(subject.id == "alice");
  CHECK(subject.roles == std::vector<std::string>{"reader", "admin"});
  CHECK(subject.attributes.at("tenant") == "acme");
  CHECK(subject.attributes.at("verified") == "true");
  CHECK_FALSE(subject.attributes.contains("ratio"));
  CHECK_FALSE(subject.attributes.contains("profile"));
  CHECK_FALSE(subject.attributes.contains("roles"));
  CHECK_FALSE(subject.attributes.contains("exp"));
}

TEST_CASE("the roles claim can be renamed and must hold strings", "[identity]") {
  JwtSettings jwt = jwt_settings();
  jwt.roles_claim = "groups";
  const Authenticator renamed(settings(jwt));
  const Subject subject = renamed.authenticate(hs256_token(claims()), k_now);
  CHECK(subject.roles == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(subject.attributes.contains("roles")); // an array, and no longer the roles claim

  const Authenticator authenticator(settings());
  Json token_claims = claims();
  token_claims["roles"] = {"reader", 7};
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("roles claim must be an array of strings"));
  token_claims["roles"] = 7;
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("roles claim must be an array of strings"));
  token_claims.erase("roles");
  CHECK(authenticator.authenticate(hs256_token(token_claims), k_now).roles.empty());
}

TEST_CASE("an expired token is refused, one within the leeway accepted", "[identity]") {
  const Authenticator authenticator(settings()); // leeway 30 s
  Json token_claims = claims();
  token_claims["exp"] = k_now_s - 30;
  const std::string edge = hs256_token(token_claims);
  CHECK(authenticator.authenticate(edge, k_now).id == "alice");
  CHECK_THAT(refusal(authenticator, edge, k_now + std::chrono::microseconds{1}),
             Contains("the token has expired (exp 2026-11-29T09:59:30Z)"));
  token_claims["exp"] = k_now_s - 3600;
  CHECK_THAT(refusal(authenticator, rs256_token(token_claims)), Contains("expired"));

  JwtSettings strict = jwt_settings();
  strict.leeway = std::chrono::seconds{0};
  const Authenticator no_leeway(settings(strict));
  token_claims["exp"] = k_now_s;
  CHECK(no_leeway.authenticate(hs256_token(token_claims), k_now).id == "alice");
  CHECK_THAT(refusal(no_leeway, hs256_token(token_claims), k_now + std::chrono::microseconds{1}), Contains("expired"));
  token_claims["exp"] = static_cast<double>(k_now_s) + 0.5; // fractional NumericDates are allowed
  CHECK(no_leeway.authenticate(hs256_token(token_claims), k_now + std::chrono::milliseconds{500}).id == "alice");
  CHECK_THAT(refusal(no_leeway, hs256_token(token_claims), k_now + std::chrono::milliseconds{501}),
             Contains("expired"));
}

TEST_CASE("a token not valid yet is refused, one within the leeway accepted", "[identity]") {
  const Authenticator authenticator(settings()); // leeway 30 s
  Json token_claims = claims();
  token_claims["nbf"] = k_now_s + 30;
  const std::string edge = hs256_token(token_claims);
  CHECK(authenticator.authenticate(edge, k_now).id == "alice");
  CHECK_THAT(refusal(authenticator, edge, k_now - std::chrono::microseconds{1}),
             Contains("the token is not valid yet (nbf 2026-11-29T10:00:30Z)"));
  token_claims["nbf"] = k_now_s + 600;
  CHECK_THAT(refusal(authenticator, rs256_token(token_claims)), Contains("not valid yet"));
  token_claims["nbf"] = "soon";
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("nbf claim is not a number"));
}

TEST_CASE("a token with a wrong signature is refused", "[identity]") {
  const Authenticator authenticator(settings());
  SECTION("HS256 signed with another secret") {
    CHECK_THAT(refusal(authenticator, hs256_token(claims(), "another secret that is long enough, too")),
               Contains("the token's signature does not verify"));
  }
  SECTION("RS256 signed with another key") {
    CHECK_THAT(refusal(authenticator, rs256_token(claims(), other_key())), Contains("signature does not verify"));
  }
  SECTION("a tampered payload") {
    Json forged = claims();
    forged["sub"] = "root";
    for (const std::string& token : {hs256_token(claims()), rs256_token(claims())}) {
      const auto first = token.find('.');
      const auto second = token.find('.', first + 1);
      const std::string tampered = token.substr(0, first + 1) + base64url(forged.dump()) + token.substr(second);
      CHECK_THAT(refusal(authenticator, tampered), Contains("signature does not verify"));
    }
  }
  SECTION("a signature cut short or emptied") {
    const std::string token = rs256_token(claims());
    // 342 characters carry 256 bytes; 340 carry 255, with no unused bits.
    CHECK_THAT(refusal(authenticator, token.substr(0, token.size() - 2)), Contains("signature does not verify"));
    CHECK_THAT(refusal(authenticator, token.substr(0, token.rfind('.') + 1)), Contains("signature does not verify"));
  }
}

TEST_CASE("only HS256 and RS256 with a configured key are accepted", "[identity]") {
  const Authenticator authenticator(settings());
  SECTION("alg none with an empty signature") {
    const std::string token = unsigned_part({{"alg", "none"}, {"typ", "JWT"}}, claims()) + ".";
    CHECK_THAT(refusal(authenticator, token), Contains("the token's algorithm none is not accepted"));
  }
  SECTION("an unsupported algorithm") {
    const Json header = {{"alg", "HS512"}};
    const std::string input = unsigned_part(header, claims());
    const std::string token = input + "." + base64url(testing::hmac_sha512(k_secret, input));
    CHECK_THAT(refusal(authenticator, token), Contains("the token's algorithm HS512 is not accepted"));
    CHECK_THAT(refusal(authenticator, hs256_token(claims(), k_secret, {{"alg", "hs256"}})),
               Contains("algorithm hs256 is not accepted"));
  }
  SECTION("an algorithm that is not a plain name is not quoted") {
    const std::string odd(40, 'Q');
    const std::string message = refusal(authenticator, hs256_token(claims(), k_secret, {{"alg", odd}}));
    CHECK_THAT(message, Contains("the token's algorithm is not accepted"));
    CHECK(message.find(odd) == std::string::npos);
  }
  SECTION("a missing or malformed alg") {
    CHECK_THAT(refusal(authenticator, hs256_token(claims(), k_secret, {{"typ", "JWT"}})),
               Contains("names no algorithm"));
    CHECK_THAT(refusal(authenticator, hs256_token(claims(), k_secret, {{"alg", 256}})),
               Contains("alg is not a string"));
  }
  SECTION("an RS256 token when only an HS256 secret is configured") {
    JwtSettings jwt = jwt_settings();
    jwt.rs256_public_key_pem.clear();
    const Authenticator hs_only(settings(jwt));
    CHECK_THAT(refusal(hs_only, rs256_token(claims())),
               Contains("algorithm RS256 is not accepted: no RS256 public key is configured"));
  }
  SECTION("an HS256 token when only an RS256 key is configured") {
    JwtSettings jwt = jwt_settings();
    jwt.hs256_secret.clear();
    const Authenticator rs_only(settings(jwt));
    CHECK_THAT(refusal(rs_only, hs256_token(claims())),
               Contains("algorithm HS256 is not accepted: no HS256 secret is configured"));
  }
}

TEST_CASE("an HS256 token keyed with the RS256 public key is refused (key confusion)", "[identity]") {
  JwtSettings jwt = jwt_settings();
  jwt.hs256_secret.clear();
  const Authenticator rs_only(settings(jwt));
  const std::string forged = hs256_token(claims(), signing_pem());
  CHECK_THAT(refusal(rs_only, forged), Contains("algorithm HS256 is not accepted"));
  // With an HS256 secret as well, that secret and only it keys HS256.
  const Authenticator both(settings());
  CHECK_THAT(refusal(both, forged), Contains("signature does not verify"));
  // And the public key cannot be configured as the HS256 secret.
  jwt.hs256_secret = signing_pem();
  const Error error = error_of([&] { Authenticator{settings(jwt)}; });
  CHECK(error.code() == ErrorCode::invalid);
  CHECK_THAT(error.what(), Contains("the HS256 secret is the RS256 public key"));
}

TEST_CASE("the typ header, when present, must say JWT; crit is refused", "[identity]") {
  const Authenticator authenticator(settings());
  for (const char* typ : {"JWT", "jwt", "at+jwt", "application/at+JWT"}) {
    CHECK(authenticator.authenticate(hs256_token(claims(), k_secret, {{"alg", "HS256"}, {"typ", typ}}), k_now).id ==
          "alice");
  }
  CHECK(authenticator.authenticate(hs256_token(claims(), k_secret, {{"alg", "HS256"}}), k_now).id == "alice");
  CHECK_THAT(refusal(authenticator, hs256_token(claims(), k_secret, {{"alg", "HS256"}, {"typ", "dpop+jwt"}})),
             Contains("the token's type (typ) is not JWT"));
  CHECK_THAT(refusal(authenticator, hs256_token(claims(), k_secret, {{"alg", "HS256"}, {"typ", 1}})),
             Contains("(typ) is not JWT"));
  CHECK_THAT(refusal(authenticator, hs256_token(claims(), k_secret, {{"alg", "HS256"}, {"crit", {"exp"}}})),
             Contains("critical extensions (crit)"));
}

TEST_CASE("sub and exp are required", "[identity]") {
  const Authenticator authenticator(settings());
  Json token_claims = claims();
  token_claims.erase("sub");
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("the token names no subject (sub)"));
  token_claims["sub"] = "";
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("(sub) is not a non-empty string"));
  token_claims["sub"] = 42;
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("(sub) is not a non-empty string"));

  token_claims = claims();
  token_claims.erase("exp");
  CHECK_THAT(refusal(authenticator, rs256_token(token_claims)), Contains("the token has no expiry time (exp)"));
  for (const Json& bad : {Json("tomorrow"), Json(true), Json(-1), Json(1e300)}) {
    token_claims["exp"] = bad;
    CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("exp claim is not a number"));
  }
}

TEST_CASE("iss must be the configured issuer", "[identity]") {
  const Authenticator authenticator(settings());
  Json token_claims = claims();
  token_claims["iss"] = "https://elsewhere.example";
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)),
             Contains("the token's issuer (iss) is not https://issuer.example"));
  token_claims.erase("iss");
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("issuer (iss)"));

  JwtSettings any_issuer = jwt_settings();
  any_issuer.issuer.clear();
  CHECK(Authenticator(settings(any_issuer)).authenticate(hs256_token(token_claims), k_now).id == "alice");
}

TEST_CASE("aud must contain the configured audience", "[identity]") {
  const Authenticator authenticator(settings());
  Json token_claims = claims();
  token_claims["aud"] = "another-service";
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)),
             Contains("the token's audience (aud) does not include zsimem"));
  token_claims["aud"] = {"another-service", "zsimem"};
  CHECK(authenticator.authenticate(hs256_token(token_claims), k_now).id == "alice");
  token_claims["aud"] = {"another-service", "zsimem-extra"};
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("does not include zsimem"));
  token_claims["aud"] = Json::array();
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("does not include zsimem"));
  token_claims.erase("aud");
  CHECK_THAT(refusal(authenticator, hs256_token(token_claims)), Contains("does not include zsimem"));
}

TEST_CASE("malformed tokens are refused", "[identity]") {
  const Authenticator authenticator(settings());
  const std::string token = hs256_token(claims());
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  const std::string header_part = token.substr(0, first);

  SECTION("not three parts") {
    CHECK_THAT(refusal(authenticator, token.substr(0, second)), Contains("unknown API token"));
    CHECK_THAT(refusal(authenticator, token + ".extra"), Contains("unknown API token"));
    CHECK_THAT(refusal(authenticator, "no-dots-at-all"), Contains("unknown API token"));
    CHECK_THAT(refusal(Authenticator(settings(std::nullopt)), token), Contains("no JWT keys are configured"));
  }
  SECTION("empty") {
    CHECK_THAT(error_of([&] { authenticator.authenticate("", k_now); }).what(), Contains("no token was given"));
  }
  SECTION("bad base64url") {
    CHECK_THAT(refusal(authenticator, "*" + token.substr(1)), Contains("the token's header is not unpadded base64url"));
    CHECK_THAT(refusal(authenticator, hs256_over(header_part, "e30*")),
               Contains("the token's payload is not unpadded base64url"));
    CHECK_THAT(refusal(authenticator, token.substr(0, second + 1) + "+/+/"),
               Contains("the token's signature is not unpadded base64url"));
    // A part of length 4n+1 cannot be base64url.
    CHECK_THAT(refusal(authenticator, header_part + "A" + token.substr(first)), Contains("header is not unpadded"));
  }
  SECTION("padding and non-canonical spellings") {
    Json padded_claims = claims();
    std::string payload_part;
    for (std::size_t n = 0; payload_part.size() % 4 != 2; ++n) {
      padded_claims["pad"] = std::string(n, 'x');
      payload_part = base64url(padded_claims.dump());
    }
    CHECK(authenticator.authenticate(hs256_over(header_part, payload_part), k_now).id == "alice");
    CHECK_THAT(refusal(authenticator, hs256_over(header_part, payload_part + "==")),
               Contains("payload is not unpadded base64url"));
    // The last character of a 4n+2 part carries 4 unused bits, which must be zero.
    std::string non_canonical = payload_part;
    non_canonical.back() = static_cast<char>(non_canonical.back() + 1);
    CHECK_THAT(refusal(authenticator, hs256_over(header_part, non_canonical)),
               Contains("payload is not unpadded base64url"));
  }
  SECTION("a header that is not a JSON object") {
    CHECK_THAT(refusal(authenticator, hs256_over(base64url("{\"alg\":\"HS256\""), base64url(claims().dump()))),
               Contains("the token's header is not a JSON object"));
    CHECK_THAT(refusal(authenticator, hs256_over(base64url("[\"HS256\"]"), base64url(claims().dump()))),
               Contains("the token's header is not a JSON object"));
  }
  SECTION("a payload that is not a JSON object") {
    CHECK_THAT(refusal(authenticator, hs256_token(Json::array({claims()}))),
               Contains("the token's payload is not a JSON object"));
    CHECK_THAT(refusal(authenticator, hs256_over(header_part, base64url("{\"sub\":"))),
               Contains("the token's payload is not a JSON object"));
  }
  SECTION("a huge token, refused before it is read") {
    Json big = claims();
    big["filler"] = std::string(9000, 'x');
    CHECK_THAT(refusal(authenticator, hs256_token(big)), Contains("the token is longer than 8192 bytes"));
    CHECK_THAT(refusal(authenticator, std::string(8193, 'a')), Contains("longer than 8192 bytes"));
    CHECK_THAT(refusal(authenticator, std::string(8192, 'a')), Contains("unknown API token"));
    // Even a configured API token is not looked up when it is that long.
    IdentitySettings identity;
    const std::string long_token(8193, 't');
    identity.tokens.push_back({sha256_hex(long_token), Subject{"long", {}, {}}});
    CHECK_THAT(refusal(Authenticator(identity), long_token), Contains("longer than 8192 bytes"));
  }
}

TEST_CASE("API tokens are recognised by their hash", "[identity]") {
  const Authenticator authenticator(settings());
  const Subject subject = authenticator.authenticate(k_api_token, k_now);
  CHECK(subject.id == "ci-bot");
  CHECK(subject.roles == std::vector<std::string>{"writer"});
  CHECK(subject.attributes.at("kind") == "service");

  CHECK_THAT(refusal(authenticator, "zsk_wrong0000000000000000000000000000"), Contains("unknown API token"));
  CHECK_THAT(refusal(authenticator, k_api_token + "x"), Contains("unknown API token"));

  SECTION("among several, with the hash in upper case") {
    IdentitySettings identity;
    for (const char* other : {"first-token-of-many", "second-token-of-many"}) {
      identity.tokens.push_back({sha256_hex(other), Subject{other, {}, {}}});
    }
    std::string upper = sha256_hex(k_api_token);
    for (char& c : upper) {
      c = (c >= 'a' && c <= 'f') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    identity.tokens.push_back({upper, Subject{"ci-bot", {}, {}}});
    const Authenticator several(identity);
    CHECK(several.authenticate(k_api_token, k_now).id == "ci-bot");
    CHECK(several.authenticate("second-token-of-many", k_now).id == "second-token-of-many");
    CHECK_THAT(refusal(several, "third-token-of-many"), Contains("unknown API token"));
  }
}

TEST_CASE("unusable keys are refused when the authenticator is made", "[identity]") {
  const auto error_making = [](const IdentitySettings& identity) {
    const Error error = error_of([&] { Authenticator{identity}; });
    CHECK(error.code() == ErrorCode::invalid);
    return std::string(error.what());
  };
  JwtSettings jwt = jwt_settings();
  jwt.rs256_public_key_pem = "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n";
  CHECK_THAT(error_making(settings(jwt)), Contains("the RS256 public key is not a PEM public key"));
  jwt.rs256_public_key_pem = signing_key().private_pem();
  const std::string private_message = error_making(settings(jwt));
  CHECK_THAT(private_message, Contains("is not a PEM public key"));
  CHECK(private_message.find("PRIVATE") == std::string::npos);

  jwt.rs256_public_key_pem = testing::ec_public_pem();
  CHECK_THAT(error_making(settings(jwt)), Contains("is not an RSA key"));
  jwt.rs256_public_key_pem = RsaKey(1024).public_pem();
  CHECK_THAT(error_making(settings(jwt)), Contains("fewer than 2048 bits"));

  jwt = jwt_settings();
  jwt.hs256_secret = "short";
  CHECK_THAT(error_making(settings(jwt)), Contains("shorter than 32 bytes"));
  jwt = jwt_settings();
  jwt.leeway = std::chrono::seconds{-1};
  CHECK_THAT(error_making(settings(jwt)), Contains("leeway must not be negative"));

  IdentitySettings identity = settings();
  identity.tokens.push_back({"not-a-hash", Subject{"someone", {}, {}}});
  CHECK_THAT(error_making(identity), Contains("API token of subject 'someone' is not given as a SHA-256"));
  identity = settings();
  identity.tokens.push_back(identity.tokens.front());
  CHECK_THAT(error_making(identity), Contains("two API tokens have the same hash"));
}
