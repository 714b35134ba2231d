#include <doctest/doctest.h>

#include <fstream>

#include "shared/core/temp_dir.hpp"
#include "shared/image/digest.hpp"

using namespace berth::image;

TEST_CASE("digest: SHA-256 of known inputs, whole and streamed") {
  CHECK(*sha256Digest("") ==
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(*sha256Digest("abc") ==
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto created = Sha256Hasher::create();
  REQUIRE(created.ok());
  Sha256Hasher hasher = std::move(created).value();
  hasher.update("a");
  hasher.update("");
  hasher.update("bc");
  CHECK(hasher.finish() == *sha256Digest("abc"));
  // finish() restarts the hasher.
  CHECK(hasher.finish() == *sha256Digest(""));
  Sha256Hasher moved = std::move(hasher);
  moved.update("abc");
  CHECK(moved.finish() == *sha256Digest("abc"));
}

TEST_CASE("digest: files, validation and mismatch messages") {
  auto dir = berth::TempDir::create("/tmp", "berth-digest-test");
  REQUIRE(dir.ok());
  std::string path = (dir->path() / "f").string();
  std::string big(300000, 'x');
  std::ofstream(path) << big;
  CHECK(*sha256File(path) == *sha256Digest(big));
  CHECK_FALSE(sha256File(path + ".missing").ok());

  std::string good = *sha256Digest("abc");
  CHECK(validateDigest(good).ok());
  CHECK(digestHex(good).size() == 64);
  CHECK_FALSE(validateDigest("sha256:ABC").ok());
  CHECK_FALSE(validateDigest(good.substr(0, good.size() - 1)).ok());
  // A character that is not hex. Set in place: std::string::replace here trips GCC 12's
  // -Wrestrict false positive at -O3 (GCC bug 105651).
  std::string notHex = good;
  notHex[7] = 'G';
  CHECK_FALSE(validateDigest(notHex).ok());
  CHECK(validateDigest("sha512:00").error().message().find("only sha256") != std::string::npos);
  CHECK(checkDigest(good, good).ok());
  auto mismatch = checkDigest(good, *sha256Digest("abd"));
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().message().starts_with("digest mismatch: expected " + good));
  CHECK(verifyDigest(good, "abc").ok());
  REQUIRE_FALSE(verifyDigest(good, "abd").ok());
  CHECK(verifyDigest(good, "abd").error().message() ==
        "digest mismatch: expected " + good + ", got " + *sha256Digest("abd"));
  // reset() forgets what was fed.
  auto hasher = Sha256Hasher::create();
  REQUIRE(hasher.ok());
  hasher->update("junk");
  hasher->reset();
  hasher->update("abc");
  CHECK(hasher->finish() == good);
}
