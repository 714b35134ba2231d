#include <doctest/doctest.h>

#include "shared/image/reference.hpp"

using namespace berth::image;

namespace {

ImageReference parsed(std::string_view text) {
  auto ref = parseImageReference(text);
  REQUIRE_MESSAGE(ref.ok(), (ref.ok() ? "" : ref.error().message()));
  return *ref;
}

std::string failure(std::string_view text) {
  auto ref = parseImageReference(text);
  REQUIRE_FALSE_MESSAGE(ref.ok(), text);
  return ref.error().message();
}

const std::string kDigest =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("image reference: Docker Hub rules") {
  CHECK(parsed("ubuntu").toString() == "docker.io/library/ubuntu:latest");
  CHECK(parsed("docker://ubuntu:22.04").toString() == "docker.io/library/ubuntu:22.04");
  CHECK(parsed("user/repo").toString() == "docker.io/user/repo:latest");
  CHECK(parsed("index.docker.io/ubuntu").toString() == "docker.io/library/ubuntu:latest");
  CHECK(parsed("docker.io/library/ubuntu").toString() == "docker.io/library/ubuntu:latest");
  CHECK(parsed("ubuntu").apiEndpoint() == "registry-1.docker.io");
  // "localhost" and components with '.' or ':' are registries; others are Docker Hub users.
  CHECK(parsed("localhost/img").registry == "localhost");
  CHECK(parsed("localhost/img").repository == "img");
  CHECK(parsed("myhost/img").registry == "docker.io");
  CHECK(parsed("myhost/img").repository == "myhost/img");
}

TEST_CASE("image reference: registries with ports, nested repositories, tags and digests") {
  ImageReference ref = parsed("127.0.0.1:5000/a/b/c:v1.2-rc_3");
  CHECK(ref.registry == "127.0.0.1:5000");
  CHECK(ref.repository == "a/b/c");
  CHECK(ref.tag == "v1.2-rc_3");
  CHECK(ref.apiEndpoint() == "127.0.0.1:5000");
  CHECK(ref.manifestReference() == "v1.2-rc_3");

  ref = parsed("ghcr.io/org/img@" + kDigest);
  CHECK(ref.tag.empty());
  CHECK(ref.digest == kDigest);
  CHECK(ref.manifestReference() == kDigest);
  CHECK(ref.toString() == "ghcr.io/org/img@" + kDigest);

  ref = parsed("docker://localhost:5000/img:tag@" + kDigest);
  CHECK(ref.tag == "tag");
  CHECK(ref.toString() == "localhost:5000/img:tag@" + kDigest);
  CHECK(parsed("[::1]:5000/img").registry == "[::1]:5000");
  CHECK(parsed("a.b-c.example/x__y.z-w/q").repository == "x__y.z-w/q");
}

TEST_CASE("image reference: bad references are rejected with the reason") {
  CHECK(failure("") == "invalid image reference ``: empty reference");
  CHECK(failure("docker://") == "invalid image reference `docker://`: empty reference");
  CHECK(failure("Ubuntu").find("must be lowercase") != std::string::npos);
  CHECK(failure("ubuntu:").find("empty tag") != std::string::npos);
  CHECK(failure("ubuntu:-x").find("invalid tag") != std::string::npos);
  CHECK(failure("ubuntu:" + std::string(129, 'a')).find("128") != std::string::npos);
  CHECK(failure("ubuntu@sha256:abc").find("64 hex") != std::string::npos);
  CHECK(failure("ubuntu@md5:abc").find("unsupported digest algorithm") != std::string::npos);
  CHECK(failure("a//b").find("empty path component") != std::string::npos);
  CHECK(failure("a/-b").find("start and end") != std::string::npos);
  CHECK(failure("a/b...c").find("invalid separator") != std::string::npos);
  CHECK(failure("host:port/x").find("invalid port") != std::string::npos);
  CHECK(failure("-bad.host/x").find("invalid registry host") != std::string::npos);
  CHECK(failure("example.com/").find("no repository") != std::string::npos);
  CHECK(failure("ubu ntu").find("white space") != std::string::npos);
  CHECK(failure("example.com/" + std::string(250, 'a')).find("255") != std::string::npos);
}

TEST_CASE("registry names normalise like references") {
  CHECK(*normalizeRegistryName("https://index.docker.io/v1/") == "docker.io");
  CHECK(*normalizeRegistryName("ghcr.io") == "ghcr.io");
  CHECK(*normalizeRegistryName("http://127.0.0.1:5000") == "127.0.0.1:5000");
  CHECK_FALSE(normalizeRegistryName("").ok());
  CHECK_FALSE(normalizeRegistryName("bad host").ok());
}

TEST_CASE("image reference: enroot/pyxis spellings give the canonical form") {
  struct Case {
    std::string text;
    std::string canonical;
    std::string user;
  };
  const Case cases[] = {
      {"nvcr.io#nvidia/pytorch:24.05-py3", "nvcr.io/nvidia/pytorch:24.05-py3", ""},
      {"docker://nvcr.io#nvidia/pytorch:24.05-py3", "nvcr.io/nvidia/pytorch:24.05-py3", ""},
      {"docker://alice@nvcr.io#nvidia/pytorch:24.05-py3", "nvcr.io/nvidia/pytorch:24.05-py3",
       "alice"},
      {"$oauthtoken@nvcr.io#nvidia/pytorch", "nvcr.io/nvidia/pytorch:latest", "$oauthtoken"},
      {"alice@ubuntu:22.04", "docker.io/library/ubuntu:22.04", "alice"},
      {"docker://alice@ubuntu", "docker.io/library/ubuntu:latest", "alice"},
      {"ubuntu", "docker.io/library/ubuntu:latest", ""},  // without registry: Docker Hub
      {"docker.io#ubuntu", "docker.io/library/ubuntu:latest", ""},
      {"index.docker.io#user/repo:1", "docker.io/user/repo:1", ""},
      {"localhost:5000#img", "localhost:5000/img:latest", ""},
      {"127.0.0.1:5000#a/b/c:v1", "127.0.0.1:5000/a/b/c:v1", ""},
      {"[::1]:5000#img:t", "[::1]:5000/img:t", ""},
      {"gitlab.example#group/sub.proj/img", "gitlab.example/group/sub.proj/img:latest", ""},
      // After '#', a first component with a dot is part of the repository.
      {"registry.example#my.org/img", "registry.example/my.org/img:latest", ""},
      {"u.s-e_r~1@ghcr.io#org/img:tag", "ghcr.io/org/img:tag", "u.s-e_r~1"},
      {"bob@nvcr.io#nvidia/cuda@" + kDigest, "nvcr.io/nvidia/cuda@" + kDigest, "bob"},
      {"nvcr.io#nvidia/cuda:12.4.1-base@" + kDigest, "nvcr.io/nvidia/cuda:12.4.1-base@" + kDigest,
       ""},
      {"bob@ubuntu@" + kDigest, "docker.io/library/ubuntu@" + kDigest, "bob"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    ImageReference ref = parsed(c.text);
    CHECK(ref.toString() == c.canonical);
    CHECK(ref.user == c.user);
    // The canonical form parses back to the same image, without the user.
    ImageReference again = parsed(ref.toString());
    CHECK(again.toString() == ref.toString());
    CHECK(again.user.empty());
    // Handed on with its user (a pinned pull), it parses back whole.
    CHECK(parsed(ref.toStringWithUser()) == ref);
  }
  ImageReference ref = parsed("alice@nvcr.io#nvidia/pytorch:24.05-py3");
  CHECK(ref.registry == "nvcr.io");
  CHECK(ref.repository == "nvidia/pytorch");
  CHECK(ref.tag == "24.05-py3");
  CHECK(ref.apiEndpoint() == "nvcr.io");
  // The same image in both spellings: one cache entry.
  CHECK(parsed("nvcr.io#nvidia/pytorch:24.05-py3").toString() ==
        parsed("nvcr.io/nvidia/pytorch:24.05-py3").toString());
}

TEST_CASE("image reference: bad enroot/pyxis spellings say why") {
  CHECK(failure("#ubuntu").find("no registry before `#`") != std::string::npos);
  CHECK(failure("nvcr.io#").find("no repository name") != std::string::npos);
  CHECK(failure("nvcr.io#:tag").find("no repository name") != std::string::npos);
  CHECK(failure("@nvcr.io#img").find("empty user name") != std::string::npos);
  CHECK(failure("user:secret@nvcr.io#img").find("password does not belong") != std::string::npos);
  CHECK(failure("us/er@nvcr.io#img").find("invalid user name") != std::string::npos);
  CHECK(failure("a@b@nvcr.io#img").find("invalid user name") != std::string::npos);
  CHECK(failure("bad_host#img").find("invalid registry host") != std::string::npos);
  CHECK(failure("nvcr.io#Nvidia/pytorch").find("must be lowercase") != std::string::npos);
  CHECK(failure("nvcr.io#a#b").find("invalid separator `#`") != std::string::npos);
  CHECK(failure("nvcr.io#img:bad:tag").find("invalid") != std::string::npos);
  CHECK(failure("nvcr.io/x#img").find("invalid registry host") != std::string::npos);
  // A digest keeps its own checks.
  CHECK(failure("alice@nvcr.io#img@sha256:abc").find("64 hex") != std::string::npos);
}
