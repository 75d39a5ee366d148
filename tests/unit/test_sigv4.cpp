#include "aws/sigv4.hpp"
#include "crypto.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/time.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

// Every expected value below is copied from AWS's publications, never
// produced by this signer:
// - the worked IAM ListUsers example of the AWS General Reference,
//   "Signature Version 4 signing process" (sigv4-create-canonical-request,
//   sigv4-create-string-to-sign, sigv4-calculate-signature and
//   sigv4-add-signature-to-request .html);
// - AWS's "Signature Version 4 test suite" (aws-sig-v4-test-suite.zip, the
//   .creq, .sts and .authz files), as carried by AWS's own repositories
//   aws/aws-sdk-js-v3 (packages/signature-v4/src/suite.fixture.ts) and
//   awslabs/aws-c-auth (tests/aws-signing-test-suite/v4/*).
namespace {

using zsimem::aws::AwsCredentials;
using zsimem::aws::NameValue;
using zsimem::aws::SignedRequest;
using zsimem::aws::SigningInput;

const AwsCredentials k_suite_credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr const char* k_suite_date = "20150830T123600Z";
constexpr const char* k_suite_host = "example.amazonaws.com";
constexpr const char* k_empty_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// A request of the test suite: region us-east-1, service "service", the
// Host header first and X-Amz-Date last, as in the suite's .req files.
SigningInput suite_request(std::string method, std::string path, std::vector<NameValue> query = {},
                           std::vector<NameValue> headers = {}, std::string body = {}) {
  SigningInput input;
  input.method = std::move(method);
  input.host = k_suite_host;
  input.path = std::move(path);
  input.query = std::move(query);
  input.headers.emplace_back("Host", k_suite_host);
  input.headers.insert(input.headers.end(), headers.begin(), headers.end());
  input.headers.emplace_back("X-Amz-Date", k_suite_date);
  input.body = std::move(body);
  input.region = "us-east-1";
  input.service = "service";
  input.amz_date = k_suite_date;
  return input;
}

// The suite's .sts files differ only in the canonical request's hash.
std::string suite_string_to_sign(const std::string& hash) {
  return std::string("AWS4-HMAC-SHA256\n") + k_suite_date + "\n20150830/us-east-1/service/aws4_request\n" + hash;
}

// The suite's .authz files differ only in the signed headers and signature.
std::string suite_authorization(const std::string& signed_headers, const std::string& signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=" +
         signed_headers + ", Signature=" + signature;
}

struct SuiteCase {
  const char* name;
  SigningInput input;
  // The published canonical request; empty where only the hash is checked.
  std::string canonical_request;
  // The hash in the published string to sign; empty where none is checked.
  std::string string_to_sign_hash;
  std::string signed_headers;
  std::string signature;
};

void check(const SuiteCase& c, const AwsCredentials& credentials = k_suite_credentials) {
  INFO(c.name);
  const SignedRequest signed_request = zsimem::aws::sign(credentials, c.input);
  if (!c.canonical_request.empty()) {
    CHECK(signed_request.canonical_request == c.canonical_request);
  }
  if (!c.string_to_sign_hash.empty()) {
    CHECK(zsimem::sha256_hex(signed_request.canonical_request) == c.string_to_sign_hash);
    CHECK(signed_request.string_to_sign == suite_string_to_sign(c.string_to_sign_hash));
  }
  CHECK(signed_request.signed_headers == c.signed_headers);
  CHECK(signed_request.signature == c.signature);
  CHECK(signed_request.authorization == suite_authorization(c.signed_headers, c.signature));
}

} // namespace

TEST_CASE("SigV4 reproduces the General Reference's IAM ListUsers example step by step", "[sigv4]") {
  SigningInput input;
  input.method = "GET";
  input.host = "iam.amazonaws.com";
  input.path = "/";
  input.query = {{"Action", "ListUsers"}, {"Version", "2010-05-08"}};
  input.headers = {{"Host", "iam.amazonaws.com"},
                   {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"X-Amz-Date", "20150830T123600Z"}};
  input.region = "us-east-1";
  input.service = "iam";
  input.amz_date = "20150830T123600Z";
  const SignedRequest signed_request = zsimem::aws::sign(k_suite_credentials, input);

  // Task 1: the canonical request and its hash.
  CHECK(signed_request.canonical_request == "GET\n"
                                            "/\n"
                                            "Action=ListUsers&Version=2010-05-08\n"
                                            "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
                                            "host:iam.amazonaws.com\n"
                                            "x-amz-date:20150830T123600Z\n"
                                            "\n"
                                            "content-type;host;x-amz-date\n"
                                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(zsimem::sha256_hex(signed_request.canonical_request) ==
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  // Task 2: the string to sign.
  CHECK(signed_request.credential_scope == "20150830/us-east-1/iam/aws4_request");
  CHECK(signed_request.string_to_sign == "AWS4-HMAC-SHA256\n"
                                         "20150830T123600Z\n"
                                         "20150830/us-east-1/iam/aws4_request\n"
                                         "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  // Task 3: the signing key and the signature.
  CHECK(zsimem::crypto::to_hex(
            zsimem::aws::derive_signing_key(k_suite_credentials.secret_access_key, "20150830", "us-east-1", "iam")) ==
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  CHECK(signed_request.signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
  // Task 4: the Authorization header, the only one to add (X-Amz-Date was given).
  const std::string authorization = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                                    "SignedHeaders=content-type;host;x-amz-date, "
                                    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
  CHECK(signed_request.authorization == authorization);
  CHECK(signed_request.headers_to_add == std::vector<NameValue>{{"authorization", authorization}});
  CHECK(signed_request.canonical_query == "Action=ListUsers&Version=2010-05-08");
}

TEST_CASE("SigV4 matches the test suite's basic requests", "[sigv4]") {
  check({"get-vanilla", suite_request("GET", "/"),
         std::string("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n") +
             k_empty_hash,
         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63", "host;x-amz-date",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"});
  check({"post-vanilla", suite_request("POST", "/"),
         std::string("POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n") +
             k_empty_hash,
         "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87", "host;x-amz-date",
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"});
  check({"get-unreserved", suite_request("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
         std::string("GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\n"
                     "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n") +
             k_empty_hash,
         "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9", "host;x-amz-date",
         "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"});
}

TEST_CASE("SigV4 matches the test suite's query strings", "[sigv4]") {
  check({"get-vanilla-query-order-key-case", suite_request("GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}),
         std::string("GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "host;x-amz-date\n") +
             k_empty_hash,
         "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0", "host;x-amz-date",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"});
  check({"get-vanilla-query-order-key", suite_request("GET", "/", {{"Param1", "value2"}, {"Param1", "Value1"}}),
         std::string("GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "host;x-amz-date\n") +
             k_empty_hash,
         "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89", "host;x-amz-date",
         "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"});
  check({"get-vanilla-query-order-value", suite_request("GET", "/", {{"Param1", "value2"}, {"Param1", "value1"}}),
         std::string("GET\n/\nParam1=value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "host;x-amz-date\n") +
             k_empty_hash,
         "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606", "host;x-amz-date",
         "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"});
  const std::string unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  check({"get-vanilla-query-unreserved", suite_request("GET", "/", {{unreserved, unreserved}}),
         "GET\n/\n" + unreserved + "=" + unreserved +
             "\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + k_empty_hash,
         "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177", "host;x-amz-date",
         "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"});
  check({"get-vanilla-utf8-query", suite_request("GET", "/", {{"\xE1\x88\xB4", "bar"}}),
         std::string("GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "host;x-amz-date\n") +
             k_empty_hash,
         "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073", "host;x-amz-date",
         "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"});
  check({"post-vanilla-query", suite_request("POST", "/", {{"Param1", "value1"}}),
         std::string("POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "host;x-amz-date\n") +
             k_empty_hash,
         "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd", "host;x-amz-date",
         "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"});
  // From aws-sdk-js-v3's copy of the suite, which gives only the Authorization.
  check({"post-vanilla-query-nonunreserved", suite_request("POST", "/", {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}}),
         "", "", "host;x-amz-date", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"});
  check({"post-vanilla-query-space", suite_request("POST", "/", {{"p", ""}}), "", "", "host;x-amz-date",
         "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b"});
}

TEST_CASE("SigV4 matches the test suite's headers", "[sigv4]") {
  check({"get-header-value-trim",
         suite_request("GET", "/", {}, {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}),
         std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
                     "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n") +
             k_empty_hash,
         "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7", "host;my-header1;my-header2;x-amz-date",
         "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"});
  check({"get-header-key-duplicate",
         suite_request("GET", "/", {}, {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}),
         std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
                     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n") +
             k_empty_hash,
         "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c", "host;my-header1;x-amz-date",
         "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"});
  check({"get-header-value-order",
         suite_request(
             "GET", "/", {},
             {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}}),
         std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n"
                     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n") +
             k_empty_hash,
         "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86", "host;my-header1;x-amz-date",
         "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"});
  check({"post-header-key-sort", suite_request("POST", "/", {}, {{"My-Header1", "value1"}}),
         std::string("POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\n"
                     "host;my-header1;x-amz-date\n") +
             k_empty_hash,
         "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65", "host;my-header1;x-amz-date",
         "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"});
  check({"post-header-value-case", suite_request("POST", "/", {}, {{"My-Header1", "VALUE1"}}),
         std::string("POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\n"
                     "host;my-header1;x-amz-date\n") +
             k_empty_hash,
         "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93", "host;my-header1;x-amz-date",
         "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"});
}

TEST_CASE("SigV4 matches the test suite's requests with a body", "[sigv4]") {
  // The suite's .creq for this case lists content-length, which its own .sts
  // and .authz do not sign (a known slip in the suite); the .sts and .authz
  // agree with each other, so they are what is checked, with the payload's
  // published hash.
  const SuiteCase form{
      "post-x-www-form-urlencoded",
      suite_request("POST", "/", {}, {{"Content-Type", "application/x-www-form-urlencoded"}}, "Param1=value1"),
      "",
      "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
      "content-type;host;x-amz-date",
      "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"};
  check(form);
  const std::string canonical = zsimem::aws::sign(k_suite_credentials, form.input).canonical_request;
  CHECK(canonical.ends_with("\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"));
  // From aws-sdk-js-v3's copy of the suite, which gives only the Authorization.
  check({"post-x-www-form-urlencoded-parameters",
         suite_request("POST", "/", {}, {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}},
                       "Param1=value1"),
         "", "", "content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"});
}

TEST_CASE("SigV4 matches the test suite's paths, normalized outside S3", "[sigv4]") {
  const auto vanilla = [](const char* name, const char* path) {
    return SuiteCase{name,
                     suite_request("GET", path),
                     std::string("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                                 "host;x-amz-date\n") +
                         k_empty_hash,
                     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
                     "host;x-amz-date",
                     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"};
  };
  check(vanilla("get-relative", "/example/.."));
  check(vanilla("get-relative-relative", "/example1/example2/../.."));
  check(vanilla("get-slash", "//"));
  check(vanilla("get-slash-dot-slash", "/./"));
  check({"get-slash-pointless-dot", suite_request("GET", "/./example"),
         std::string("GET\n/example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n") +
             k_empty_hash,
         "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702", "host;x-amz-date",
         "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"});
  check({"get-slashes", suite_request("GET", "//example//"),
         std::string("GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n") +
             k_empty_hash,
         "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015", "host;x-amz-date",
         "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"});
  check({"get-space", suite_request("GET", "/example space/"),
         std::string("GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "host;x-amz-date\n") +
             k_empty_hash,
         "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86", "host;x-amz-date",
         "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"});
  check({"get-utf8", suite_request("GET", "/\xE1\x88\xB4"),
         std::string("GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "host;x-amz-date\n") +
             k_empty_hash,
         "", "host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"});
}

TEST_CASE("SigV4 signs a session token as x-amz-security-token", "[sigv4]") {
  // The 2015 suite's post-sts-token/post-sts-header-before.
  const std::string token =
      "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8Y"
      "UuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE"
      "8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2"
      "ICCR/oLxBA==";
  const AwsCredentials with_token{k_suite_credentials.access_key_id, k_suite_credentials.secret_access_key, token};
  const SuiteCase sts{"post-sts-header-before",
                      suite_request("POST", "/"),
                      "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:" +
                          token + "\n\nhost;x-amz-date;x-amz-security-token\n" + k_empty_hash,
                      "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
                      "host;x-amz-date;x-amz-security-token",
                      "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"};
  check(sts, with_token);
  // The signer added the token; the caller sends it with the Authorization.
  const SignedRequest signed_request = zsimem::aws::sign(with_token, sts.input);
  REQUIRE(signed_request.headers_to_add.size() == 2);
  CHECK(signed_request.headers_to_add[0] == NameValue{"x-amz-security-token", token});
  CHECK(signed_request.headers_to_add[1].first == "authorization");

  // The token given as a header already gives the same signature.
  SigningInput in_headers = sts.input;
  in_headers.headers.emplace_back("X-Amz-Security-Token", token);
  CHECK(zsimem::aws::sign(with_token, in_headers).signature == sts.signature);

  // aws-c-auth's get-vanilla-with-session-token (v4 suite).
  const AwsCredentials c_auth{k_suite_credentials.access_key_id, k_suite_credentials.secret_access_key,
                              "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"};
  check({"get-vanilla-with-session-token", suite_request("GET", "/"), "", "", "host;x-amz-date;x-amz-security-token",
         "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
        c_auth);
}

TEST_CASE("SigV4 adds x-amz-date when the caller has not", "[sigv4]") {
  // get-vanilla again, the date coming from amz_date alone.
  SigningInput input = suite_request("GET", "/");
  input.headers.pop_back();
  input.amz_date = zsimem::aws::format_amz_date(zsimem::parse_time("2015-08-30T12:36:00.999Z"));
  CHECK(input.amz_date == "20150830T123600Z");
  const SignedRequest signed_request = zsimem::aws::sign(k_suite_credentials, input);
  CHECK(signed_request.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  REQUIRE(signed_request.headers_to_add.size() == 2);
  CHECK(signed_request.headers_to_add[0] == NameValue{"x-amz-date", "20150830T123600Z"});
  CHECK(signed_request.headers_to_add[1] == NameValue{"authorization", signed_request.authorization});

  // Host too comes from `host` when no header gives it.
  input.headers.clear();
  CHECK(zsimem::aws::sign(k_suite_credentials, input).signature ==
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST_CASE("SigV4 encodes per AWS's rules", "[sigv4]") {
  using zsimem::aws::canonical_uri;
  using zsimem::aws::uri_encode;
  CHECK(uri_encode("AZaz09-_.~", false) == "AZaz09-_.~");
  CHECK(uri_encode("a b/c+d=e&f%", false) == "a%20b%2Fc%2Bd%3De%26f%25");
  CHECK(uri_encode("a b/c", true) == "a%20b/c");
  CHECK(uri_encode("\xE1\x88\xB4", false) == "%E1%88%B4");
  // Outside S3 the path as sent is encoded once more: the General
  // Reference's "/documents and settings/" signs as
  // "/documents%2520and%2520settings/".
  CHECK(canonical_uri("/documents%20and%20settings/", "iam") == "/documents%2520and%2520settings/");
  // S3 signs the path as sent, unnormalized.
  CHECK(canonical_uri("/my%20bucket//a/./b/../c", "s3") == "/my%20bucket//a/./b/../c");
  CHECK(canonical_uri("", "dynamodb") == "/");
  CHECK(canonical_uri("/", "dynamodb") == "/");
  CHECK(zsimem::aws::canonical_query_string({}).empty());
}

TEST_CASE("SigV4 adds x-amz-content-sha256 on request", "[sigv4]") {
  SigningInput input = suite_request("PUT", "/key", {}, {}, "Param1=value1");
  input.add_content_sha256 = true;
  const SignedRequest signed_request = zsimem::aws::sign(k_suite_credentials, input);
  // The hash of "Param1=value1", published in post-x-www-form-urlencoded.
  const std::string hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
  CHECK(signed_request.signed_headers == "host;x-amz-content-sha256;x-amz-date");
  CHECK(signed_request.headers_to_add.front() == NameValue{"x-amz-content-sha256", hash});
  CHECK(signed_request.canonical_request.ends_with("\n" + hash));

  // A caller's x-amz-content-sha256 is what S3 signs in the payload's place.
  input.headers.emplace_back("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  CHECK(zsimem::aws::sign(k_suite_credentials, input).canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

TEST_CASE("SigV4 refuses requests it cannot sign", "[sigv4]") {
  const auto refused_field = [](const SigningInput& input, const AwsCredentials& credentials = k_suite_credentials) {
    try {
      zsimem::aws::sign(credentials, input);
    } catch (const zsimem::Error& e) {
      CHECK(e.code() == zsimem::ErrorCode::invalid);
      return e.field();
    }
    return std::string("(signed)");
  };
  const SigningInput good = suite_request("GET", "/");

  SigningInput input = good;
  input.amz_date = "2015-08-30T12:36:00Z";
  CHECK(refused_field(input) == "amz_date");
  input = good;
  input.headers.back().second = "20150830T123601Z"; // X-Amz-Date disagreeing with amz_date
  CHECK(refused_field(input) == "amz_date");
  input = good;
  input.region.clear();
  CHECK(refused_field(input) == "region");
  input = good;
  input.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 ...");
  CHECK(refused_field(input) == "headers");
  input = good;
  input.headers.emplace_back("Bad Name", "x");
  CHECK(refused_field(input) == "headers");
  input = good;
  input.headers.emplace_back("X-Injected", "a\r\nX-Other: b");
  CHECK(refused_field(input) == "headers");
  input = good;
  input.path = "relative";
  CHECK(refused_field(input) == "path");
  input = good;
  input.path = "/a?b=c";
  CHECK(refused_field(input) == "path");
  CHECK(refused_field(good, AwsCredentials{"AKIDEXAMPLE", "", ""}) == "credentials");
}
