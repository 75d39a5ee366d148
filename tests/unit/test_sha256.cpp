#include "sha256.hpp"

#include <zsimem/hash_chain.hpp>

#include <catch2/catch.hpp>

#include <string>

// Published test vectors (FIPS 180-4 examples) and every padding boundary.
TEST_CASE("SHA-256 matches the published test vectors", "[hash][sha256]") {
  using zsimem::sha256_hex;
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 pads correctly at every block boundary", "[hash][sha256]") {
  using zsimem::sha256_hex;
  CHECK(sha256_hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(sha256_hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha256_hex(std::string(63, 'a')) == "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
  CHECK(sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  CHECK(sha256_hex(std::string(65, 'a')) == "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0");
  CHECK(sha256_hex(std::string(119, 'a')) == "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
  CHECK(sha256_hex(std::string(120, 'a')) == "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c");
}

TEST_CASE("SHA-256 with the SHA extensions agrees with the portable code at every length", "[hash][sha256]") {
  namespace detail = zsimem::detail;
  if (!detail::cpu_has_sha_ni()) {
    WARN("this CPU has no SHA extensions: only the portable code ran");
    return;
  }
  std::string bytes;
  for (std::size_t size = 0; size <= 1100; ++size) {
    CAPTURE(size);
    CHECK(detail::sha256_sha_ni(bytes) == detail::sha256_portable(bytes));
    // Every byte value, in an order no block repeats.
    bytes.push_back(static_cast<char>((size * 131 + size / 256) & 0xff));
  }
  CHECK(detail::sha256_sha_ni("abc") == detail::sha256_portable("abc"));
  CHECK(zsimem::sha256(bytes) == detail::sha256_sha_ni(bytes));
}
