// Small string helpers that neither the standard library nor fmt provide.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth {

// Splits on every `separator`; keeps empty fields ("a,,b" -> {"a", "", "b"}).
std::vector<std::string> split(std::string_view text, char separator);

// Removes ASCII white space from both ends.
std::string_view trim(std::string_view text);

}  // namespace berth
