// registry_probe: drives RegistryClient against a real registry for the integration tests.
//   registry_probe [-v] [--platform P] [--dir DIR] [--retries N] [--parallel N]
//                  [--pause SECONDS] REF
// Resolves REF, prints what it found, and with --dir fetches the config and layers into DIR
// (dir/sha256-<hex>), printing the digest of each file as written. --pause waits between the
// two (a token that expires in between must be renewed). Errors: one line, exit 1.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "shared/image/digest.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/registry_client.hpp"

using namespace berth;
using namespace berth::image;
using namespace berth::registry;

namespace {

Result<int> run(int argc, char** argv) {
  std::string platform;
  std::string dir;
  std::string text;
  RegistryOptions options;
  options.backoffBaseMs = 100;
  bool verbose = false;
  double pause = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "-v")
      verbose = true;
    else if (arg == "--platform")
      platform = next();
    else if (arg == "--dir")
      dir = next();
    else if (arg == "--retries")
      options.retries = std::stoi(next());
    else if (arg == "--pause")
      pause = std::stod(next());
    else if (arg == "--parallel")
      options.parallelDownloads = std::stoi(next());
    else if (arg == "--mirror") {
      std::string spec = next();  // REGISTRY=ENDPOINT
      size_t eq = spec.find('=');
      options.mirrors[spec.substr(0, eq)].push_back(spec.substr(eq + 1));
    } else
      text = arg;
  }
  Logger log(
      [](LogLevel level, std::string_view message) {
        fmt::print(stderr, "registry_probe: {}: {}\n", logLevelName(level), message);
      },
      verbose ? LogLevel::kDebug : LogLevel::kWarning);
  BERTH_ASSIGN(ImageReference ref, parseImageReference(text));
  BERTH_ASSIGN(RegistryClient client, RegistryClient::create(options, log));
  BERTH_ASSIGN(ResolvedImage image, client.resolve(ref, platform));
  fmt::print("reference {}\n", image.reference.toString());
  fmt::print("manifest {}\n", image.manifestDigest);
  fmt::print("index {}\n", image.indexDigest.empty() ? "-" : image.indexDigest);
  fmt::print("platform {}\n", image.platform);
  fmt::print("config {} {}\n", image.config.digest, image.config.size);
  for (const Descriptor& layer : image.layers)
    fmt::print("layer {} {} {}\n", layer.mediaType, layer.digest, layer.size);
  std::fflush(stdout);
  if (dir.empty())
    return 0;
  if (pause > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(pause * 1000)));
  BERTH_ASSIGN(std::string config, client.fetchBlobToString(ref, image.config));
  fmt::print("config-bytes {}\n", config.size());
  std::vector<Descriptor> blobs = image.layers;
  blobs.push_back(image.config);
  BERTH_TRY(client.fetchBlobs(ref, blobs, dir, nullptr));
  for (const Descriptor& blob : blobs) {
    BERTH_ASSIGN(std::string digest, sha256File(dir + "/" + blobFileName(blob.digest)));
    fmt::print("fetched {} {}\n", blob.digest, digest);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto status = run(argc, argv);
  if (!status.ok()) {
    fmt::print(stderr, "registry_probe: {}\n", status.error().message());
    return 1;
  }
  return *status;
}
