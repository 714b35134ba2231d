#include "shared/gpu/driver.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"
#include "shared/gpu/ld_cache.hpp"

namespace berth::gpu {
namespace fs = std::filesystem;
namespace {

bool isVersionToken(std::string_view token) {
  return !token.empty() && token.find('.') != std::string_view::npos &&
         std::isdigit(static_cast<unsigned char>(token.front())) &&
         std::all_of(token.begin(), token.end(), [](char c) {
           return c == '.' || std::isdigit(static_cast<unsigned char>(c));
         });
}

fs::path rebase(const fs::path& root, const fs::path& path) {
  return root / path.relative_path();
}

// Collects files into DriverInfo::files, merging the names of one real file.
class FileCollector {
 public:
  explicit FileCollector(DriverInfo& info) : info_(info) {}

  void addLibrary(const DriverLibrary& library, const fs::path& realFile, std::string_view alias) {
    DriverFile& file =
        fileFor(DriverFile::Kind::kLibrary, library.capability, library.stem, realFile);
    addName(file, realFile.filename().string());
    if (!alias.empty())
      addName(file, std::string(alias));
    if (!library.extraName.empty())
      addName(file, std::string(library.extraName));
  }

  void addBinary(const DriverBinary& binary, const fs::path& path) {
    if (info_.find(binary.name) != nullptr)
      return;  // the first directory searched wins
    DriverFile& file = fileFor(DriverFile::Kind::kBinary, binary.capability, binary.name, path);
    addName(file, std::string(binary.name));
  }

 private:
  DriverFile& fileFor(DriverFile::Kind kind, Capability capability, std::string_view tableName,
                      const fs::path& hostPath) {
    for (DriverFile& file : info_.files) {
      if (file.hostPath == hostPath.string())
        return file;
    }
    info_.files.push_back(
        DriverFile{kind, capability, std::string(tableName), hostPath.string(), {}});
    return info_.files.back();
  }
  static void addName(DriverFile& file, std::string name) {
    if (std::find(file.names.begin(), file.names.end(), name) == file.names.end())
      file.names.push_back(std::move(name));
  }

  DriverInfo& info_;
};

// The real file behind `path`, when it is a driver library of `version`; else nothing (and
// the name is remembered in `ignored` when it is a driver library of another version).
std::optional<fs::path> versionedFile(const DriverLibrary& library, const fs::path& path,
                                      const std::string& version, DriverInfo& info) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec || !fs::is_regular_file(real, ec))
    return std::nullopt;
  if (real.filename().string() != fmt::format("{}.{}", library.stem, version)) {
    if (std::find(info.ignored.begin(), info.ignored.end(), real.string()) == info.ignored.end())
      info.ignored.push_back(real.string());
    return std::nullopt;
  }
  return real;
}

void scanExtraDir(const fs::path& dir, DriverInfo& info, FileCollector& files) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return;
  std::vector<fs::directory_entry> entries;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    entries.push_back(entry);
  std::sort(entries.begin(), entries.end());
  for (const auto& entry : entries) {
    std::string name = entry.path().filename().string();
    if (const DriverLibrary* library = findDriverLibrary(name)) {
      if (auto real = versionedFile(*library, entry.path(), info.version, info))
        files.addLibrary(*library, *real, entry.is_symlink() ? name : "");
    } else if (const DriverBinary* binary = findDriverBinary(name)) {
      if (::access(entry.path().c_str(), X_OK) == 0 && entry.is_regular_file(ec))
        files.addBinary(*binary, fs::canonical(entry.path(), ec));
    }
  }
}

void scanLdCache(const DriverSearch& search, DriverInfo& info, FileCollector& files) {
  fs::path cachePath = rebase(search.driverRoot, search.ldCache);
  auto cache = readLdCache(cachePath.string());
  if (!cache.ok()) {
    info.warnings.push_back(cache.error().message());
    return;
  }
  for (const LdCacheEntry& entry : cache->entries) {
    // Other architectures (32-bit compat libraries) and glibc-hwcaps variants are not for us.
    if (entry.flags != hostLibraryFlags() || !entry.hwcapsDir.empty())
      continue;
    const DriverLibrary* library = findDriverLibrary(entry.soname);
    if (library == nullptr)
      continue;
    if (auto real =
            versionedFile(*library, rebase(search.driverRoot, entry.path), info.version, info))
      files.addLibrary(*library, *real, entry.soname);
  }
}

bool isSocket(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

DriverSearch DriverSearch::under(const fs::path& root) {
  DriverSearch search;
  search.driverRoot = root;
  for (auto& file : search.versionFiles)
    file = rebase(root, file);
  for (auto& dir : search.extraDirs)
    dir = rebase(root, dir);
  for (auto& dir : search.binaryDirs)
    dir = rebase(root, dir);
  search.devRoot = rebase(root, search.devRoot);
  search.procRoot = rebase(root, search.procRoot);
  search.persistencedSocket = rebase(root, search.persistencedSocket);
  search.mpsPipeDirectory = rebase(root, search.mpsPipeDirectory);
  return search;  // ldCache stays relative to driverRoot, as the cache's own paths are
}

const DriverFile* DriverInfo::find(std::string_view tableName) const {
  for (const DriverFile& file : files) {
    if (file.tableName == tableName)
      return &file;
  }
  return nullptr;
}

Result<std::string> parseDriverVersion(std::string_view text) {
  std::string_view firstLine = text.substr(0, text.find('\n'));
  for (const std::string& token : split(firstLine, ' ')) {
    std::string_view word = trim(token);
    if (isVersionToken(word))
      return std::string(word);
  }
  return Error(fmt::format("no driver version in `{}`", trim(firstLine)));
}

Result<std::optional<DriverInfo>> discoverDriver(const DriverSearch& search) {
  DriverInfo info;
  bool found = false;
  for (const fs::path& file : search.versionFiles) {
    Result<std::string> text = readWholeFile(file);
    if (!text.ok())
      continue;
    BERTH_ASSIGN(info.version,
                 parseDriverVersion(*text).withContext(fmt::format("read `{}`", file.string())));
    found = true;
    break;
  }
  if (!found)
    return std::optional<DriverInfo>();

  FileCollector files(info);
  for (const fs::path& dir : search.extraDirs)
    scanExtraDir(dir, info, files);
  scanLdCache(search, info, files);
  for (const fs::path& dir : search.binaryDirs) {
    for (const DriverBinary& binary : driverBinaries()) {
      fs::path path = dir / binary.name;
      std::error_code ec;
      if (fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0)
        files.addBinary(binary, fs::canonical(path, ec));
    }
  }

  BERTH_ASSIGN(info.devices, discoverDevices(search.devRoot, search.procRoot)
                                 .withContext(fmt::format("NVIDIA driver {}", info.version)));
  if (isSocket(search.persistencedSocket))
    info.persistencedSocket = search.persistencedSocket.string();
  std::error_code ec;
  if (fs::is_directory(search.mpsPipeDirectory, ec))
    info.mpsPipeDirectory = search.mpsPipeDirectory.string();
  return std::optional<DriverInfo>(std::move(info));
}

}  // namespace berth::gpu
