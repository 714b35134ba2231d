#include "shared/build/cache_key.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "shared/build/dockerignore.hpp"
#include "shared/image/digest.hpp"

namespace berth::build {
namespace {

using nlohmann::json;

// Text fields in JSON must be valid UTF-8; arbitrary bytes (a file name, a command) go in
// hex-escaped so that different bytes never collapse into one text.
json bytes(std::string_view text) {
  bool ascii =
      std::all_of(text.begin(), text.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
  if (ascii)
    return std::string(text);
  std::string hex;
  for (unsigned char c : text)
    hex += fmt::format("{:02x}", c);
  return json{{"hex", hex}};
}

json byteList(const std::vector<std::string>& items) {
  json out = json::array();
  for (const std::string& item : items)
    out.push_back(bytes(item));
  return out;
}

void field(image::Sha256Hasher& hasher, std::string_view value) {
  hasher.update(fmt::format("{}:", value.size()));
  hasher.update(value);
}

struct Record {
  std::string path;
  char type = 'f';
  uint32_t mode = 0;
  uint64_t size = 0;
  std::string digest;  // regular files
  std::string target;  // symbolic links
};

char typeOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'f';
    case S_IFDIR:
      return 'd';
    case S_IFLNK:
      return 'l';
    case S_IFCHR:
      return 'c';
    case S_IFBLK:
      return 'b';
    case S_IFIFO:
      return 'p';
    default:
      return 's';
  }
}

bool hasGlob(std::string_view component) {
  return component.find_first_of("*?[") != std::string_view::npos;
}

Result<std::vector<std::string>> listDirectory(const std::filesystem::path& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr)
    return errnoError(fmt::format("open directory `{}`", dir.string()));
  std::vector<std::string> names;
  while (struct dirent* entry = ::readdir(handle)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..")
      names.emplace_back(name);
  }
  ::closedir(handle);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    if (end > start)
      parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

class TreeWalker {
 public:
  TreeWalker(const std::filesystem::path& root, const TreeHashOptions& options)
      : root_(root), options_(options) {}

  // `display`: the path recorded (and matched against .dockerignore).
  Status add(const std::filesystem::path& path, const std::string& display) {
    struct stat st {};
    int rc = options_.followSymlinks ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    if (rc != 0)
      return errnoError(fmt::format("stat `{}`", display));
    bool ignored = options_.ignore != nullptr && options_.ignore->excluded(display);
    bool isDir = S_ISDIR(st.st_mode);
    if (ignored && !(isDir && options_.ignore->hasExceptions()))
      return okStatus();
    if (!ignored) {
      Record record;
      record.path = display;
      record.type = typeOf(st.st_mode);
      record.mode = static_cast<uint32_t>(st.st_mode & 07777);
      if (S_ISREG(st.st_mode)) {
        record.size = static_cast<uint64_t>(st.st_size);
        BERTH_ASSIGN(record.digest, image::sha256File(path.string()));
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
        if (n < 0)
          return errnoError(fmt::format("readlink `{}`", display));
        target.resize(static_cast<size_t>(n));
        record.target = std::move(target);
      } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        record.target = fmt::format("{}:{}", major(st.st_rdev), minor(st.st_rdev));
      }
      records_.push_back(std::move(record));
    }
    if (!isDir)
      return okStatus();
    // Followed links can loop: a directory already on the way down is an error.
    auto id = std::make_pair(st.st_dev, st.st_ino);
    if (!onPath_.insert(id).second)
      return Error(fmt::format("`{}` loops back to a directory above it", display));
    BERTH_ASSIGN(std::vector<std::string> names, listDirectory(path));
    for (const std::string& name : names)
      BERTH_TRY(add(path / name, display == "." ? name : fmt::format("{}/{}", display, name)));
    onPath_.erase(id);
    return okStatus();
  }

  // One COPY source: its matches under the root (or an absolute host path).
  Status addSource(const std::string& source) {
    BERTH_ASSIGN(std::vector<std::string> matches,
                 matchSource(root_, source, options_.allowAbsolute));
    bool absolute = options_.allowAbsolute && source.starts_with('/');
    for (const std::string& match : matches) {
      std::filesystem::path path = absolute ? std::filesystem::path(match) : root_ / match;
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0)
        return errnoError(fmt::format("source `{}`", source));
      BERTH_TRY(add(path, match));
    }
    return okStatus();
  }

  Result<std::string> finish() {
    std::sort(records_.begin(), records_.end(),
              [](const Record& a, const Record& b) { return a.path < b.path; });
    BERTH_ASSIGN(image::Sha256Hasher hasher, image::Sha256Hasher::create());
    const Record* previous = nullptr;
    for (const Record& record : records_) {
      if (previous != nullptr && previous->path == record.path)
        continue;  // named by two sources
      field(hasher, record.path);
      field(hasher, std::string_view(&record.type, 1));
      field(hasher, fmt::format("{:o}", record.mode));
      field(hasher, std::to_string(record.size));
      field(hasher, record.digest);
      field(hasher, record.target);
      previous = &record;
    }
    return hasher.finish();
  }

 private:
  std::filesystem::path root_;
  const TreeHashOptions& options_;
  std::vector<Record> records_;
  std::set<std::pair<dev_t, ino_t>> onPath_;
};

}  // namespace

Result<std::vector<std::string>> matchSource(const std::filesystem::path& root,
                                             const std::string& source, bool allowAbsolute) {
  bool absolute = source.starts_with('/');
  if (absolute && !allowAbsolute)
    return matchSource(root, source.substr(1), false);
  std::string cleaned = cleanRelativePath(source);
  if (cleaned == ".." || cleaned.starts_with("../"))
    return Error(fmt::format("source `{}` is outside the build context", source));
  std::vector<std::string> matches = {absolute ? "/" : "."};
  if (cleaned != ".") {
    for (const std::string& component : splitPath(cleaned)) {
      std::vector<std::string> next;
      for (const std::string& match : matches) {
        std::string prefix = match == "." ? "" : match == "/" ? "/" : match + "/";
        if (!hasGlob(component)) {
          next.push_back(prefix + component);
          continue;
        }
        std::filesystem::path dir = absolute ? std::filesystem::path(match) : root / match;
        auto names = listDirectory(dir);
        if (!names.ok())
          continue;
        for (const std::string& name : *names)
          if (globMatch(component, name))
            next.push_back(prefix + name);
      }
      matches = std::move(next);
    }
  }
  if (matches.empty())
    return Error(fmt::format("source `{}` matches nothing", source));
  return matches;
}

std::string canonicalInstruction(const DockerStep& step) {
  json out;
  out["instruction"] = step.keyword;
  json flags = json::object();
  for (const auto& [name, value] : step.flags)
    flags[name] = bytes(value);
  out["flags"] = flags;
  if (step.fromStage >= 0)
    out["fromStage"] = step.fromStage;
  out["args"] = byteList(step.args);
  out["argv"] = byteList(step.argv);
  json pairs = json::array();
  for (const auto& [key, value] : step.keyValues)
    pairs.push_back(json::array({bytes(key), bytes(value)}));
  out["keyValues"] = pairs;
  if (step.healthcheck) {
    const HealthcheckConfig& check = *step.healthcheck;
    out["healthcheck"] = {{"test", byteList(check.test)},
                          {"interval", check.intervalNs},
                          {"timeout", check.timeoutNs},
                          {"startPeriod", check.startPeriodNs},
                          {"startInterval", check.startIntervalNs},
                          {"retries", check.retries}};
  }
  if (!step.onBuild.empty())
    out["onBuild"] = bytes(step.onBuild);
  out["environment"] = byteList(step.environment);
  out["workdir"] = bytes(step.workdir);
  out["user"] = bytes(step.user);
  out["shell"] = byteList(step.shell);
  return out.dump();
}

std::string canonicalSection(const DefinitionSection& section,
                             const std::vector<std::string>& environment) {
  json out = {{"section", section.name},
              {"shell", bytes(section.shell)},
              {"body", bytes(section.body)},
              {"environment", byteList(environment)}};
  return out.dump();
}

std::string canonicalFiles(const FilesSection& files) {
  json copies = json::array();
  for (const FileCopy& copy : files.copies)
    copies.push_back(json::array({bytes(copy.source), bytes(copy.destination)}));
  json out = {{"section", "files"}, {"from", bytes(files.fromStage)}, {"copies", copies}};
  return out.dump();
}

Result<std::string> treeHash(const std::filesystem::path& root,
                             const std::vector<std::string>& sources,
                             const TreeHashOptions& options) {
  TreeWalker walker(root, options);
  for (const std::string& source : sources)
    BERTH_TRY(walker.addSource(source));
  return walker.finish();
}

Result<std::string> chainKey(std::string_view previousKey, std::string_view identityMode,
                             std::string_view canonical, std::string_view treeHash) {
  BERTH_ASSIGN(image::Sha256Hasher hasher, image::Sha256Hasher::create());
  field(hasher, "berth-build-cache-v1");
  field(hasher, previousKey);
  field(hasher, identityMode);
  field(hasher, canonical);
  field(hasher, treeHash);
  return hasher.finish();
}

}  // namespace berth::build
