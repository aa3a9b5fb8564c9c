// Delivery status notifications: RFC 3464 reports in an RFC 6522 multipart/report, RFC 6533
// for SMTPUTF8 mail, built from a queued message's envelope; RFC 3461 NOTIFY rules.

#include "queue/bounce.hpp"

#include <string>
#include <vector>

#include "mail/dsn_fields.hpp"
#include "mail/received.hpp"
#include "mail/xtext.hpp"

namespace posthorn::queue {

using namespace mail::dsn_fields;
using mail::action_name;
using mail::address;
using mail::rfc5322_date;

namespace {

std::string date_of(const dsn_request& req, std::int64_t t) {
  return req.utc_offset ? rfc5322_date(t, *req.utc_offset) : rfc5322_date(t);
}

std::string_view subject_of(dsn_kind k) {
  switch (k) {
    case dsn_kind::Failure:
      return "Undelivered Mail Returned to Sender";
    case dsn_kind::Delay:
      return "Delayed Mail (still being retried)";
    case dsn_kind::Delivered:
      return "Successful Mail Delivery Report";
    case dsn_kind::Relayed:
      return "Relayed Mail Delivery Report";
    case dsn_kind::Expanded:
      break;
  }
  return "Expanded Mail Delivery Report";
}

std::string_view explanation_of(dsn_kind k) {
  switch (k) {
    case dsn_kind::Failure:
      return "Your message could not be delivered to one or more recipients. The reasons are "
             "given below. This is a permanent error: the mail system will not try again.";
    case dsn_kind::Delay:
      return "Your message has not been delivered yet to the recipients below. The mail system "
             "is still trying; you do not need to send it again.";
    case dsn_kind::Delivered:
      return "Your message was delivered to the recipients below, as you asked.";
    case dsn_kind::Relayed:
      return "Your message was passed on to mail systems that do not send delivery reports. "
             "There will be no further reports about the recipients below.";
    case dsn_kind::Expanded:
      break;
  }
  return "Your message was delivered to the lists or aliases below, which passed it on to "
         "their members. There will be no further reports about these recipients.";
}

// Part 1 (RFC 6522 §3): what happened, for a person.
std::string text_body(const dsn_request& req, bool global, dsn_content content,
                      std::string_view host) {
  std::string out;
  append_wrapped(out, "", "", "This is the mail system at host " + std::string(host) + ".");
  out += k_crlf;
  std::string intro(explanation_of(req.kind));
  if (content == dsn_content::Full) {
    intro += " Your message is attached.";
  } else if (content == dsn_content::Headers) {
    intro += " The headers of your message are attached.";
  }
  append_wrapped(out, "", "", intro);
  out += k_crlf;
  if (req.kind == dsn_kind::Failure) {
    append_wrapped(out, "", "",
                   "If you need help, please write to <postmaster@" + std::string(host) +
                       "> and include this report.");
    out += k_crlf;
  }
  for (std::size_t i = 0; i < req.recipients.size(); ++i) {
    const dsn_recipient& r = req.recipients[i];
    if (i > 0) {
      out += k_crlf;
    }
    const std::string status =
        status_fits(r.action, r.status) ? r.status : std::string(default_status(r.action));
    // The member that failed, and the address the sender wrote when that was another one
    // (a list or alias), as Postfix's "(expanded from <...>)".
    const std::string final_text = r.final_recipient.str();
    std::string who = "<" + clean_text(final_text, global) + ">";
    if (const std::string given = original_recipient_address(r.original_recipient);
        !given.empty() && !iequals(given, final_text)) {
      who += " (expanded from <" + clean_text(given, global) + ">)";
    }
    append_wrapped(out, "", "    ",
                   who + ": " + std::string(action_name(r.action)) + " (" + status + ")");
    if (!trim(r.remote_mta).empty()) {
      append_wrapped(out, "    Remote server: ", "      ",
                     diagnostic_text(typed_value(r.remote_mta, "dns", false)));
    }
    if (!trim(r.diagnostic).empty()) {
      append_wrapped(out, "    Reason: ", "      ",
                     diagnostic_text(diagnostic_value(r.diagnostic, global)));
    }
    if (r.action == dsn_action::Delayed && r.will_retry_until > 0) {
      append_wrapped(out, "    Will retry until: ", "      ", date_of(req, r.will_retry_until));
    }
  }
  return out;
}

// Part 2 (RFC 3464 §2.2, §2.3): per-message fields, then a field group per recipient.
std::string status_body(const dsn_request& req, bool global, std::string_view host) {
  const envelope& env = req.original;
  std::string out;
  if (!env.envid.empty()) {
    append_field(out, "Original-Envelope-Id", clean_text(env.envid, false));  // §2.2.1
  }
  append_field(out, "Reporting-MTA", "dns; " + std::string(host));  // §2.2.2
  if (env.protocol != "local" && plausible_host(env.helo)) {
    append_field(out, "Received-From-MTA", "dns; " + env.helo);  // §2.2.4
  }
  if (!env.id.empty()) {
    append_field(out, "X-Posthorn-Queue-ID", clean_text(env.id, false));  // §2.4 extension
  }
  if (env.arrival > 0) {
    append_field(out, "Arrival-Date", date_of(req, env.arrival));  // §2.2.5
  }
  for (const dsn_recipient& r : req.recipients) {
    out += k_crlf;
    if (!trim(r.original_recipient).empty()) {
      append_field(out, "Original-Recipient",
                   original_recipient_value(r.original_recipient, global));
    }
    append_field(out, "Final-Recipient", final_recipient_value(r.final_recipient, global));
    append_field(out, "Action", action_name(r.action));
    append_field(
        out, "Status",
        status_fits(r.action, r.status) ? std::string_view(r.status) : default_status(r.action));
    if (!trim(r.remote_mta).empty()) {
      append_field(out, "Remote-MTA", typed_value(r.remote_mta, "dns", false));
    }
    if (!trim(r.diagnostic).empty()) {
      append_field(out, "Diagnostic-Code", diagnostic_value(r.diagnostic, global));
    }
    if (r.last_attempt > 0) {
      append_field(out, "Last-Attempt-Date", date_of(req, r.last_attempt));
    }
    if (r.action == dsn_action::Delayed && r.will_retry_until > 0) {
      append_field(out, "Will-Retry-Until", date_of(req, r.will_retry_until));
    }
  }
  return out;
}

// A MIME body part: its header fields, the empty line, the content.
std::string body_part(std::string_view type, std::string_view description, bool eight_bit,
                      const std::string& content) {
  std::string out;
  out += "Content-Type: ";
  out += type;
  out += k_crlf;
  out += "Content-Description: ";
  out += description;
  out += k_crlf;
  out += eight_bit ? "Content-Transfer-Encoding: 8bit\r\n" : "Content-Transfer-Encoding: 7bit\r\n";
  out += k_crlf;
  out += content;
  return out;
}

// RFC 2046 §5.1.1: a boundary that occurs in no part. "=_" cannot start a quoted-printable or
// base64 line, so the first candidate nearly always fits.
std::string choose_boundary(const dsn_request& req, const std::vector<std::string>& parts) {
  const std::uint64_t seed = fnv1a(std::to_string(req.now), fnv1a(req.unique));
  for (std::uint64_t attempt = 0;; ++attempt) {
    const std::string candidate =
        "=_posthorn_" + hex64(fnv1a(std::to_string(attempt), seed)) + "_dsn";
    bool found = false;
    for (const std::string& p : parts) {
      if (p.find(candidate) != std::string::npos) {
        found = true;
        break;
      }
    }
    if (!found) {
      return candidate;
    }
  }
}

}  // namespace

dsn_action action_for(dsn_kind k) {
  switch (k) {
    case dsn_kind::Failure:
      return dsn_action::Failed;
    case dsn_kind::Delay:
      return dsn_action::Delayed;
    case dsn_kind::Delivered:
      return dsn_action::Delivered;
    case dsn_kind::Relayed:
      return dsn_action::Relayed;
    case dsn_kind::Expanded:
      break;
  }
  return dsn_action::Expanded;
}

bool dsn_is_global(const dsn_request& req) { return req.original.smtputf8; }

dsn_content returned_content(const dsn_request& req) {
  if (header_lines(req.message).empty()) {
    return dsn_content::None;
  }
  // RFC 3461 §4.3: RET=FULL asks for the content in "failed" DSNs; RET=HDRS, and reports of
  // other kinds, get the headers. Unset RET leaves it to us: full up to the size limit.
  if (req.kind != dsn_kind::Failure || req.original.ret == dsn_ret::Hdrs ||
      req.message.size() > req.return_limit || !transportable(req.message)) {
    return dsn_content::Headers;
  }
  return dsn_content::Full;
}

std::string build_dsn(const dsn_request& req) {
  const bool global = dsn_is_global(req);
  const std::string host = host_name(req.reporting_mta);
  const dsn_content content = returned_content(req);

  std::vector<std::string> parts;
  {
    const std::string text = text_body(req, global, content, host);
    parts.push_back(body_part(global ? "text/plain; charset=utf-8" : "text/plain; charset=us-ascii",
                              "Notification", has_8bit(text), text));
  }
  {
    const std::string status = status_body(req, global, host);
    // RFC 6533 §6.3: message/global-delivery-status for SMTPUTF8 mail.
    parts.push_back(body_part(global ? "message/global-delivery-status" : "message/delivery-status",
                              "Delivery report", has_8bit(status), status));
  }
  if (content != dsn_content::None) {
    const bool full = content == dsn_content::Full;
    const std::string returned = full ? full_content(req.message) : headers_content(req.message);
    // RFC 6522 §4 text/rfc822-headers; RFC 6533 §6.4, §6.5 message/global(-headers).
    const std::string_view type = full
                                      ? (global ? "message/global" : "message/rfc822")
                                      : (global ? "message/global-headers" : "text/rfc822-headers");
    const std::string_view description =
        req.kind == dsn_kind::Failure
            ? (full ? "Undelivered Message" : "Undelivered Message Headers")
            : "Message Headers";
    parts.push_back(body_part(type, description, has_8bit(returned), returned));
  }

  bool eight_bit = false;
  for (const std::string& p : parts) {
    eight_bit = eight_bit || has_8bit(p);
  }
  const std::string boundary = choose_boundary(req, parts);

  std::string out;
  out.reserve(1024 + parts.back().size());
  out += "From: Mail Delivery System <MAILER-DAEMON@" + host + ">\r\n";
  if (req.original.sender.empty()) {
    // Only reached when a caller skipped wants_dsn(); the field stays well-formed.
    out += "To: undisclosed-recipients:;\r\n";
  } else {
    out += "To: <" + clean_text(req.original.sender.str(), global) + ">\r\n";
  }
  append_field(out, "Subject", subject_of(req.kind));
  append_field(out, "Date", date_of(req, req.now));
  std::string unique = id_text(req.unique);
  if (unique.empty()) {
    unique = hex64(fnv1a(boundary));
  }
  out += "Message-ID: <" + unique + "." + std::to_string(req.now) + "@" + host + ">\r\n";
  if (const std::string id = original_message_id(req.message); !id.empty()) {
    out += "In-Reply-To: " + id + "\r\n";  // RFC 3834 §3.1.5
    out += "References: " + id + "\r\n";
  }
  out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5
  out += "MIME-Version: 1.0\r\n";
  // RFC 6522 §3; RFC 6533 names the report type of the global status part.
  out += "Content-Type: multipart/report; report-type=";
  out += global ? "global-delivery-status" : "delivery-status";
  out += ";\r\n\tboundary=\"" + boundary + "\"\r\n";
  out += eight_bit ? "Content-Transfer-Encoding: 8bit\r\n" : "Content-Transfer-Encoding: 7bit\r\n";
  out += k_crlf;
  out += "This is a MIME-encapsulated delivery status notification.\r\n";
  for (const std::string& p : parts) {
    out += "\r\n--" + boundary + "\r\n";
    out += p;
  }
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

bool wants_dsn(const recipient& rcpt, dsn_kind kind) {
  const std::uint8_t n = rcpt.notify;
  if ((n & notify::Never) != 0) {
    return false;  // RFC 3461 §4.1: NEVER asks for no DSN at all
  }
  if (n == 0) {
    // Not given: FAILURE,DELAY (DESIGN.md §4.2, RFC 3461 §4.1 allows either default).
    return kind == dsn_kind::Failure || kind == dsn_kind::Delay;
  }
  switch (kind) {
    case dsn_kind::Failure:
      return (n & notify::Failure) != 0;
    case dsn_kind::Delay:
      return (n & notify::Delay) != 0;
    case dsn_kind::Delivered:
    case dsn_kind::Relayed:   // RFC 3461 §5.2.2 (b)
    case dsn_kind::Expanded:  // RFC 3461 §5.2.7
      break;
  }
  return (n & notify::Success) != 0;
}

bool wants_dsn(const envelope& env, const recipient& rcpt, dsn_kind kind) {
  return !env.sender.empty() && wants_dsn(rcpt, kind);
}

std::string original_recipient_of(const recipient& rcpt) {
  if (!trim(rcpt.orcpt).empty()) {
    return rcpt.orcpt;
  }
  const address& given = rcpt.original.empty() ? rcpt.address : rcpt.original;
  if (given.empty()) {
    return {};
  }
  const std::string text = given.str();
  // RFC 6533 §3: a UTF-8 address is of type utf-8.
  return (has_8bit(text) ? "utf-8;" : "rfc822;") + mail::xtext_encode(text);
}

dsn_recipient dsn_report_for(const recipient& rcpt, dsn_action action) {
  dsn_recipient r;
  // RFC 3464 §2.3.2: the address that failed, not the list it was reached through.
  r.final_recipient = rcpt.address;
  r.original_recipient = original_recipient_of(rcpt);
  r.action = action;
  const std::string_view reply = trim(rcpt.last_reply);
  const std::string_view code = enhanced_code_of(reply);
  if (action == dsn_action::Failed && !reply.empty() && reply[0] == '4') {
    r.status = "4.4.7";  // a temporary failure given up on (RFC 3463 §3.5)
  } else if (!code.empty() && code[0] == reply[0] && status_fits(action, code)) {
    r.status = code;
  } else if (is_smtp_reply(reply) && status_fits(action, std::string(1, reply[0]) + ".0.0")) {
    r.status = std::string(1, reply[0]) + ".0.0";
  } else {
    r.status = default_status(action);
  }
  if (!reply.empty()) {
    r.diagnostic = (is_smtp_reply(reply) ? "smtp; " : "x-posthorn; ") + clean_text(reply, true);
  }
  return r;
}

}  // namespace posthorn::queue
