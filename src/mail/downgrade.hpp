#pragma once
// Downgrading the header section of an internationalized message (RFC 6532 UTF-8 header
// fields) for a peer that does not offer SMTPUTF8, following RFC 6857 §3: the message
// is rewritten on the way out to that peer only; the queued copy stays as received.
// No I/O.
//
// Field by field (names case-insensitive; a field that is pure ASCII is kept byte for
// byte, folding included):
// * address fields (From, Sender, Reply-To, To, Cc, Bcc, the Resent- forms,
//   Disposition-Notification-To): a UTF-8 display name becomes encoded words (RFC 2047
//   §5(3)); a UTF-8 domain becomes A-labels; a mailbox whose local part is UTF-8 (or
//   whose domain is not valid IDNA) has no ASCII form, so it becomes an empty group
//   whose display name is the whole mailbox in encoded words ("=?UTF-8?B?...?= :;",
//   RFC 6857 §3.1.x with RFC 6854's group syntax in From/Sender); inside a group such a
//   member is kept as an encoded comment instead (groups do not nest);
// * unstructured fields (Subject, Comments, Content-Description, Organization, ...):
//   encoded words (RFC 2047 §5(1)); Keywords: each phrase so;
// * Message-ID, In-Reply-To, References with UTF-8: renamed Downgraded-Message-Id,
//   Downgraded-In-Reply-To, Downgraded-References (RFC 6857 §3.3), value in encoded words;
// * trace fields (Received): UTF-8 domains become A-labels; a "for" clause naming a
//   UTF-8 address, and comments holding UTF-8, are removed (RFC 6857 §3.2); Return-Path
//   with a UTF-8 local part is removed (the receiver writes its own);
// * Content-Type and Content-Disposition: UTF-8 parameter values in RFC 2231 form
//   (name*=utf-8''%C3%A9, continued as name*0*, name*1* when long);
// * any other field holding UTF-8: renamed "Downgraded-<name>" with the value in
//   encoded words, so that no parser takes the changed value for the original.
// Rewritten fields are folded at 78 columns where white space allows. MIME part headers
// inside the body are not touched (they travel as 8BITMIME content).

#include <string>
#include <string_view>

namespace posthorn::mail {

// The header section `header` (every field with its CRLF, without the empty line that
// ends the section) downgraded as above; every octet of the result is ASCII. Bare LF
// line ends are read as CRLF; the result uses CRLF.
std::string downgrade_header(std::string_view header);

// `text` (UTF-8) as RFC 2047 encoded words ("=?UTF-8?B?...?="), each at most 75
// characters, split on character boundaries and separated by single spaces.
std::string encode_words(std::string_view text);

// Where the header section of `message` ends: the offset of the empty line's CRLF (or
// LF), or message.size() when there is none (then everything is header).
std::size_t header_section_end(std::string_view message);

}  // namespace posthorn::mail
