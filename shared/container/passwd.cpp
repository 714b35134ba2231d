#include "shared/container/passwd.hpp"

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::container {
namespace {

// Field `index` of a colon-separated line, or "".
std::string field(const std::string& line, size_t index) {
  auto fields = split(line, ':');
  return index < fields.size() ? fields[index] : std::string();
}

void appendLine(std::string& out, std::string_view line) {
  out.append(line);
  out.push_back('\n');
}

}  // namespace

std::string mergePasswd(std::string_view imagePasswd, const sys::Identity& user, bool shellExists) {
  std::string out;
  std::string uid = std::to_string(user.uid);
  for (const auto& line : split(imagePasswd, '\n')) {
    if (line.empty())
      continue;
    if (field(line, 0) == user.name || field(line, 2) == uid)
      continue;
    appendLine(out, line);
  }
  std::string gecos = user.gecos;
  for (char& c : gecos)
    if (c == ':' || c == '\n')
      c = ' ';
  appendLine(out, fmt::format("{}:x:{}:{}:{}:{}:{}", user.name, user.uid, user.gid, gecos,
                              user.home.string(), shellExists ? user.shell : "/bin/sh"));
  return out;
}

std::string mergeGroup(std::string_view imageGroup, const sys::Identity& user) {
  std::string out;
  std::string gid = std::to_string(user.gid);
  bool found = false;
  for (const auto& line : split(imageGroup, '\n')) {
    if (line.empty())
      continue;
    if (field(line, 2) == gid)
      found = true;
    appendLine(out, line);
  }
  if (!found)
    appendLine(out, fmt::format("{}:x:{}:{}", user.groupName, user.gid, user.name));
  return out;
}

}  // namespace berth::container
