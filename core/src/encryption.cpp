#include "crypto.hpp"
#include "sha256.hpp"

#include <zsimem/encryption.hpp>
#include <zsimem/error.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <openssl/crypto.h>

namespace zsimem {
namespace {

constexpr std::string_view k_key_env = "ZSIMEM_MASTER_KEY";
constexpr std::string_view k_key_file_env = "ZSIMEM_MASTER_KEY_FILE";

std::string env(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  return value ? std::string(value) : std::string{};
}

MasterKey master_key(std::string_view hex, const std::string& origin, std::size_t position) {
  auto bytes = crypto::from_hex(hex);
  if (!bytes || bytes->size() != 32) {
    if (bytes) {
      OPENSSL_cleanse(bytes->data(), bytes->size());
    }
    throw Error(ErrorCode::invalid,
                origin + ": key " + std::to_string(position) +
                    " is not 64 hex digits (make one with: openssl rand -hex 32)",
                origin);
  }
  MasterKey key;
  std::copy(bytes->begin(), bytes->end(), key.bytes.begin());
  const auto digest = sha256("zsimem-master-key-id\n" + *bytes);
  key.id = crypto::to_hex(std::span<const unsigned char>(digest.data(), 8));
  OPENSSL_cleanse(bytes->data(), bytes->size());
  return key;
}

} // namespace

MasterKey::~MasterKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

MasterKeyRing MasterKeyRing::parse(std::string_view text, const std::string& origin) {
  std::vector<MasterKey> keys;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '#') {
      const auto end = text.find('\n', i);
      i = end == std::string_view::npos ? text.size() : end;
    } else if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else {
      const auto end = text.find_first_of(", \t\r\n#", i);
      const auto token = text.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
      keys.push_back(master_key(token, origin, keys.size() + 1));
      i += token.size();
    }
  }
  if (keys.empty()) {
    throw Error(ErrorCode::invalid, origin + ": no master key in it (make one with: openssl rand -hex 32)", origin);
  }
  for (std::size_t a = 0; a < keys.size(); ++a) {
    for (std::size_t b = a + 1; b < keys.size(); ++b) {
      if (keys[a].id == keys[b].id) {
        throw Error(ErrorCode::invalid,
                    origin + ": key " + std::to_string(b + 1) + " repeats key " + std::to_string(a + 1), origin);
      }
    }
  }
  return MasterKeyRing(std::move(keys));
}

MasterKeyRing MasterKeyRing::load(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw Error(ErrorCode::invalid, "cannot read the master key file '" + path.string() + "'", "master_key_file");
  }
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto ring = parse(text, "master key file '" + path.string() + "'");
  OPENSSL_cleanse(text.data(), text.size());
  return ring;
}

const MasterKey* MasterKeyRing::find(std::string_view id) const {
  for (const auto& key : m_keys) {
    if (key.id == id) {
      return &key;
    }
  }
  return nullptr;
}

std::shared_ptr<const MasterKeyRing> master_keys_from_env(const std::filesystem::path& key_file) {
  const std::string key = env(k_key_env);
  const std::filesystem::path file = key_file.empty() ? std::filesystem::path(env(k_key_file_env)) : key_file;
  if (!key.empty() && !file.empty()) {
    throw Error(ErrorCode::invalid,
                std::string(k_key_env) + " and a master key file are both set: give the keys one way only",
                std::string(k_key_env));
  }
  if (!key.empty()) {
    return std::make_shared<const MasterKeyRing>(MasterKeyRing::parse(key, std::string(k_key_env)));
  }
  if (!file.empty()) {
    return std::make_shared<const MasterKeyRing>(MasterKeyRing::load(file));
  }
  return nullptr;
}

} // namespace zsimem
