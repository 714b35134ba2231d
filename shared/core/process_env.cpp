#include "shared/core/process_env.hpp"

#include <cstdlib>

namespace berth {

std::optional<std::string> processEnv(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr)
    return std::nullopt;
  return std::string(value);
}

}  // namespace berth
