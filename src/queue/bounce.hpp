#pragma once
// Delivery status notifications: the bounces, delay warnings and success reports posthorn
// sends to a message's sender as an RFC 6522 multipart/report carrying RFC 3464
// message/delivery-status (RFC 6533 message/global-delivery-status for SMTPUTF8 mail), built
// from the queued message's envelope, and who gets one (RFC 3461 NOTIFY). Pure functions:
// time and unique names come in as values. The field syntax is in mail/dsn_fields.hpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mail/address.hpp"
#include "mail/dsn_fields.hpp"
#include "queue/envelope.hpp"

namespace posthorn::queue {

using mail::action_name;
using mail::dsn_action;

// What a report is about: decides the Subject, the explanation and the returned content.
enum class dsn_kind : std::uint8_t { Failure, Delay, Delivered, Relayed, Expanded };

// The action that goes with a kind of report (Failure -> Failed, Delay -> Delayed, ...).
dsn_action action_for(dsn_kind k);

// One recipient's field group in the report (RFC 3464 §2.3).
struct dsn_recipient {
  // Final-Recipient (§2.3.2): the address that failed (or was delivered, delayed...), after
  // alias expansion: a list member, not the list.
  mail::address final_recipient;
  // Original-Recipient (§2.3.1) as "addr-type;xtext": the ORCPT the client gave, or the address
  // as given in RCPT TO as we recorded it (RFC 3461 §4.2); "" = absent.
  std::string original_recipient;
  dsn_action action = dsn_action::Failed;
  std::string status;      // "5.1.1"; "" = derived from the action (5.0.0, 4.0.0, 2.0.0)
  std::string remote_mta;  // "dns; mx1.example.test" (a bare host gets "dns; "); "" = none
  std::string diagnostic;  // "smtp; 550 5.1.1 unknown" (a bare reply gets "smtp; "); "" = none
  std::int64_t last_attempt = 0;      // unix seconds; 0 = no Last-Attempt-Date
  std::int64_t will_retry_until = 0;  // unix seconds, for Delayed; 0 = no Will-Retry-Until
};

// Returned content above this size goes back as headers only. Postfix's bounce_size_limit is
// 50 kB; 100 kB (powers of 1000, as sizes in DESIGN.md §4.2) keeps most text mail whole while
// a bounce of a large attachment stays small.
inline constexpr std::size_t k_default_return_limit = 100'000;

// Everything a report is made of.
struct dsn_request {
  std::string reporting_mta;  // our hostname: Reporting-MTA, From, Message-ID
  dsn_kind kind = dsn_kind::Failure;
  // The original envelope: sender (the report's To), envid (decoded), ret, arrival, smtputf8,
  // id, helo. Its recipients are not read: `recipients` below says who is reported on.
  envelope original;
  std::vector<dsn_recipient> recipients;  // one field group each, in this order
  // The original message (CRLF line ends) as queued; must outlive the call. Empty = not
  // available: the report then has no third part (RFC 6522 §3 makes it optional).
  std::string_view message;
  std::size_t return_limit = k_default_return_limit;
  std::string unique;    // unique per report (e.g. queue id + sequence): Message-ID, boundary
  std::int64_t now = 0;  // unix seconds: Date
  std::optional<int> utc_offset;  // seconds east of UTC for the dates; nullopt = local zone
};

// How much of the original message a report returns.
enum class dsn_content : std::uint8_t { None, Headers, Full };

// The decision build_dsn() applies: Full only for a Failure report (RFC 3461 §4.3 ties
// RET=FULL to "failed" DSNs) when RET is not HDRS, the message is within return_limit and it
// can travel as 8bit MIME (no NUL, no line over 998 octets, RFC 5322 §2.1.1); otherwise
// Headers; None without a message.
dsn_content returned_content(const dsn_request& req);

// True when the report uses the RFC 6533 types (message/global-delivery-status, utf-8
// addresses, message/global, message/global-headers): the original message was SMTPUTF8.
bool dsn_is_global(const dsn_request& req);

// The complete report as an RFC 5322 message with CRLF line ends, every line at most 998
// octets (long fields folded, RFC 5322 §2.2.3):
//   From: Mail Delivery System <MAILER-DAEMON@host>, To: the envelope sender, Subject by kind,
//   Date, Message-ID, In-Reply-To/References (the original's Message-ID, RFC 3834 §3.1.5),
//   Auto-Submitted: auto-replied (RFC 3834 §5), MIME-Version, Content-Type: multipart/report;
//   report-type=delivery-status (or global-delivery-status), a boundary absent from the parts;
//   parts: text/plain explanation naming each recipient (and the address it was expanded
//   from); message/delivery-status (message/global-delivery-status); message/rfc822 or
//   text/rfc822-headers (message/global, message/global-headers) as returned_content() says.
// The result holds octets above 127 only when the original content or a UTF-8 address does;
// send it with BODY=8BITMIME then (and SMTPUTF8 when dsn_is_global()).
std::string build_dsn(const dsn_request& req);

// RFC 3461 §4.1 NOTIFY for one recipient: NEVER suppresses every report; not given (0) means
// FAILURE,DELAY (DESIGN.md §4.2); SUCCESS covers Delivered, Relayed and Expanded.
bool wants_dsn(const recipient& rcpt, dsn_kind kind);

// As above, and never to the null sender <> (RFC 5321 §4.5.5, RFC 3461 §6.2): a report
// that cannot be delivered is dropped, never reported again.
bool wants_dsn(const envelope& env, const recipient& rcpt, dsn_kind kind);

// The Original-Recipient value for a recipient: its ORCPT as given, else "rfc822;" (or
// "utf-8;" for a UTF-8 address) and the xtext of the address given in RCPT TO (`original`,
// else `address`), which RFC 3461 §4.2 lets the MTA record itself.
std::string original_recipient_of(const recipient& rcpt);

// A recipient's field group from its queue state: Final-Recipient is the final address
// (`address`: the member of a list that failed, RFC 3464 §2.3.2), Original-Recipient
// original_recipient_of(), the diagnostic its last_reply ("smtp; " when it reads as an SMTP
// reply, "x-posthorn; " otherwise), the status the reply's enhanced code when it has one of
// the reply's class, else by the action; a Failed recipient whose last reply was temporary
// gets 4.4.7 (gave up, DESIGN.md §4.2). remote_mta and the dates are left for the caller.
dsn_recipient dsn_report_for(const recipient& rcpt, dsn_action action);

}  // namespace posthorn::queue
