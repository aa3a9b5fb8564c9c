// Builds the server's check modules in their fixed order (checks_setup.hpp).

#include "app/checks_setup.hpp"

namespace posthorn::app {

result<std::shared_ptr<const smtp::check_list>> make_checks(const config::config& cfg,
                                                            const check_setup& s) {
  (void)cfg;
  (void)s;
  auto list = std::make_shared<smtp::check_list>();
  // The order matters (checks.hpp): add each module in its place.
  // 1. screen: DNS lists, reverse DNS, rate limits, greylisting (issue "Hold the door")
  // 2. mailauth: SPF at MAIL; DKIM, ARC, DMARC and Authentication-Results at the end
  // 3. milters, in the order of [[milter]]
  // 4. DKIM signing (after every header change)
  // 5. screen verdict: junk_score / reject_score over the summed score
  return std::shared_ptr<const smtp::check_list>(std::move(list));
}

}  // namespace posthorn::app
