#include "shared/build/build_scratch.hpp"

#include <sys/statfs.h>

#include <cstdint>

#include <fmt/format.h>

#include "shared/core/process_env.hpp"

namespace berth::build {
namespace {

// Filesystems a build's scratch may not live on (statfs f_type; linux/magic.h and the
// vendors' headers).
struct NetworkFilesystem {
  uint64_t magic;
  std::string_view name;
};
constexpr NetworkFilesystem kNetworkFilesystems[] = {
    {0x6969, "NFS"},         // NFS_SUPER_MAGIC
    {0x0BD00BD0, "Lustre"},  // LL_SUPER_MAGIC
    {0x47504653, "GPFS"},    // "GPFS": IBM Spectrum Scale
    {0xFF534D42, "CIFS"},    // CIFS_MAGIC_NUMBER
    {0xFE534D42, "SMB2"},    // SMB2_MAGIC_NUMBER
    {0x65735546, "FUSE"},    // FUSE_SUPER_MAGIC: sshfs, s3fs, ... (no overlay upper there)
};

}  // namespace

Result<std::string_view> networkFilesystemOf(const std::filesystem::path& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0)
    return errnoError(fmt::format("build directory `{}`", dir.string()));
  for (const NetworkFilesystem& fs : kNetworkFilesystems)
    if (static_cast<uint64_t>(static_cast<uint32_t>(st.f_type)) == fs.magic)
      return fs.name;
  return std::string_view();
}

Result<TempDir> makeBuildScratch(const std::filesystem::path& configured) {
  std::filesystem::path dir = configured;
  if (dir.empty())
    dir = processEnv("TMPDIR").value_or("");
  if (dir.empty())
    dir = "/tmp";
  BERTH_ASSIGN(std::string_view network, networkFilesystemOf(dir));
  if (!network.empty())
    return Error(fmt::format(
        "build directory `{}` is on {}: builds need node-local disk (berth.conf build_dir, or "
        "TMPDIR)",
        dir.string(), network));
  return TempDir::create(dir, "berth-build");
}

}  // namespace berth::build
