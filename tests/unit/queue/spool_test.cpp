// The spool (DESIGN.md §4.1): commit, recover, load, update, remove, and that torn or
// damaged files never come back as messages.

#include "queue/spool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

#include "queue/codec.hpp"
#include "queue/crc32c.hpp"
#include "test_util.hpp"

namespace posthorn::queue {
namespace {

using test::expect_same;
using test::full_envelope;
using test::read_all;
using test::temp_dir;

std::unique_ptr<spool> open_spool(const fs::path& dir) {
  auto s = spool::open(dir);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename().string());
  }
  std::ranges::sort(out);
  return out;
}

std::string sample_message(std::size_t body_lines = 3) {
  std::string m =
      "Received: from client.example.net by mx.example.test with ESMTP id X\r\n"
      "Subject: Gr\xc3\xbc\xc3\x9f"
      "e\r\n\r\n";
  for (std::size_t i = 0; i < body_lines; ++i) {
    m += "line " + std::to_string(i) + "\r\n";
  }
  return m;
}

// Commits `message` under a new id with the full envelope; returns the envelope.
envelope commit_one(spool& s, const std::string& message) {
  envelope env = full_envelope(s.new_id());
  message_writer w = s.begin(env.id);
  w.append(message);
  auto r = s.commit(env, std::move(w));
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return env;
}

class spool_test : public ::testing::Test {
 protected:
  temp_dir tmp_;
  fs::path dir_ = tmp_.path() / "spool";
  std::unique_ptr<spool> spool_ = open_spool(dir_);
};

TEST_F(spool_test, open_creates_the_folders) {
  for (const char* sub : {"incoming", "active", "status", "corrupt"}) {
    EXPECT_TRUE(fs::is_directory(dir_ / sub)) << sub;
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / sub).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << sub;
  }
  EXPECT_GT(spool_->free_space(), 0u);
}

TEST_F(spool_test, commit_then_recover_returns_every_field_and_the_message) {
  const std::string message = sample_message();
  envelope env = commit_one(*spool_, message);
  EXPECT_EQ(env.size, message.size());
  EXPECT_EQ(names_in(dir_ / "active"), std::vector<std::string>{env.id});
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());

  auto again = open_spool(dir_);
  auto recovered = again->recover();
  ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
  ASSERT_EQ(recovered->size(), 1u);
  expect_same(recovered->front(), env);

  auto loaded = again->load(env.id);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  expect_same(*loaded, env);

  auto reader = again->open_message(env.id);
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  EXPECT_EQ((*reader)->size(), message.size());
  EXPECT_EQ((*reader)->contents(), message);
}

TEST_F(spool_test, queue_file_is_private_to_the_server) {
  envelope env = commit_one(*spool_, sample_message());
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "active" / env.id).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(spool_test, empty_message_round_trips) {
  envelope env = commit_one(*spool_, "");
  auto reader = spool_->open_message(env.id);
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  EXPECT_EQ((*reader)->size(), 0u);
  EXPECT_TRUE((*reader)->contents().empty());
  auto recovered = spool_->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ(recovered->front().size, 0u);
}

TEST_F(spool_test, spilled_big_message_round_trips) {
  std::mt19937 rng(42);
  std::string message;
  message.reserve(6'000'000);
  while (message.size() < 5'500'000) {
    const std::size_t len = rng() % 200;
    for (std::size_t i = 0; i < len; ++i) {
      message += static_cast<char>(0x20 + rng() % 0x5F);
    }
    message += "\r\n";
  }
  envelope env = full_envelope(spool_->new_id());
  message_writer w = spool_->begin(env.id, 64 * 1024);
  std::size_t pos = 0;
  int spills = 0;
  while (pos < message.size()) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 20'000, message.size() - pos);
    w.append(std::string_view(message).substr(pos, n));
    pos += n;
    if (w.wants_spill()) {
      ASSERT_TRUE(w.spill().has_value());
      ++spills;
      EXPECT_TRUE(fs::exists(dir_ / "incoming" / env.id));
    }
  }
  EXPECT_GT(spills, 10);
  EXPECT_EQ(w.size(), message.size());
  ASSERT_TRUE(spool_->commit(env, std::move(w)).has_value());
  EXPECT_EQ(env.size, message.size());
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());

  auto recovered = open_spool(dir_)->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), 1u);
  expect_same(recovered->front(), env);
  auto reader = spool_->open_message(env.id);
  ASSERT_TRUE(reader.has_value());
  EXPECT_EQ((*reader)->size(), message.size());
  EXPECT_TRUE((*reader)->contents() == message);
}

TEST_F(spool_test, discarded_and_destroyed_writers_leave_no_file) {
  {
    message_writer w = spool_->begin(spool_->new_id(), 16);
    w.append(std::string(100, 'x'));
    ASSERT_TRUE(w.wants_spill());
    ASSERT_TRUE(w.spill().has_value());
    EXPECT_EQ(names_in(dir_ / "incoming").size(), 1u);
    w.discard();
    EXPECT_EQ(w.size(), 0u);
    EXPECT_TRUE(names_in(dir_ / "incoming").empty());
    // Usable again after discard (RSET, then a new transaction).
    w.append(std::string(100, 'y'));
    ASSERT_TRUE(w.spill().has_value());
    EXPECT_EQ(names_in(dir_ / "incoming").size(), 1u);
  }
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());
  EXPECT_TRUE(names_in(dir_ / "active").empty());
}

TEST_F(spool_test, moved_writer_keeps_its_file) {
  message_writer a = spool_->begin(spool_->new_id(), 8);
  a.append("0123456789");
  ASSERT_TRUE(a.spill().has_value());
  message_writer b(std::move(a));
  EXPECT_EQ(b.size(), 10u);
  b.append("abc");
  envelope env = full_envelope("");
  ASSERT_TRUE(spool_->commit(env, std::move(b)).has_value());
  EXPECT_FALSE(env.id.empty());  // taken from the writer
  auto reader = spool_->open_message(env.id);
  ASSERT_TRUE(reader.has_value());
  EXPECT_EQ((*reader)->contents(), "0123456789abc");
}

TEST_F(spool_test, default_writer_commits_under_the_envelope_id) {
  envelope env = full_envelope(spool_->new_id());
  message_writer w;
  w.append("Subject: x\r\n\r\nbody\r\n");
  ASSERT_TRUE(spool_->commit(env, std::move(w)).has_value());
  auto reader = spool_->open_message(env.id);
  ASSERT_TRUE(reader.has_value());
  EXPECT_EQ((*reader)->contents(), "Subject: x\r\n\r\nbody\r\n");
}

TEST_F(spool_test, commit_never_replaces_a_queued_file_and_leaves_nothing_behind) {
  envelope first = commit_one(*spool_, "first\r\n");
  const std::string before = read_all(dir_ / "active" / first.id);
  envelope clash = full_envelope(first.id);
  message_writer w = spool_->begin(first.id);
  w.append("second\r\n");
  auto r = spool_->commit(clash, std::move(w));
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().temporary());
  EXPECT_EQ(r.error().enhanced, "4.3.0");
  EXPECT_EQ(read_all(dir_ / "active" / first.id), before);
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());
}

TEST_F(spool_test, commit_refuses_an_id_that_is_not_a_safe_name) {
  for (const char* id : {"../evil", "a/b", "has space", "dot.ted"}) {
    envelope env = full_envelope(id);
    message_writer w;
    w.append("x");
    auto r = spool_->commit(env, std::move(w));
    ASSERT_FALSE(r.has_value()) << id;
    EXPECT_EQ(r.error().enhanced, "4.3.0");
  }
  EXPECT_TRUE(names_in(dir_ / "active").empty());
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());
  EXPECT_FALSE(fs::exists(dir_ / "evil"));
}

TEST_F(spool_test, torn_and_damaged_files_are_taken_out_at_recover) {
  const std::string message = sample_message(50);
  envelope good = commit_one(*spool_, message);
  const fs::path active = dir_ / "active";
  const auto full_size = fs::file_size(active / good.id);
  const std::uint64_t trailer_at = full_size - codec::k_trailer_size;

  // Truncated at offsets across header, message, envelope and trailer.
  std::set<std::string> broken;
  for (const std::uint64_t cut :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{8}, std::uint64_t{15}, std::uint64_t{16},
        std::uint64_t{17}, std::uint64_t{16 + message.size() / 2},
        std::uint64_t{16 + message.size()}, trailer_at - 1, trailer_at, trailer_at + 20,
        full_size - 8, full_size - 1}) {
    envelope env = commit_one(*spool_, message);
    ASSERT_EQ(::truncate((active / env.id).c_str(), static_cast<off_t>(cut)), 0);
    broken.insert(env.id);
  }
  // One flipped bit in the message, the envelope, the trailer and the end marker.
  for (const std::uint64_t at : {std::uint64_t{16 + 10}, std::uint64_t{16 + message.size() + 5},
                                 trailer_at + 3, trailer_at + 33, full_size - 2}) {
    envelope env = commit_one(*spool_, message);
    std::string bytes = read_all(active / env.id);
    bytes[at] = static_cast<char>(bytes[at] ^ 0x04);
    test::write_all(active / env.id, bytes);
    broken.insert(env.id);
  }
  // A file with a valid structure under another message's name.
  {
    envelope env = commit_one(*spool_, message);
    fs::copy_file(active / env.id, active / "0000000000XX");
    broken.insert("0000000000XX");
  }
  test::write_all(active / "not.an.id", "junk");
  broken.insert("not.an.id");

  auto recovered = open_spool(dir_)->recover();
  ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
  std::set<std::string> ids;
  for (const envelope& env : *recovered) {
    ids.insert(env.id);
    EXPECT_FALSE(broken.contains(env.id)) << env.id;
  }
  EXPECT_TRUE(ids.contains(good.id));
  EXPECT_EQ(ids.size(), 2u);  // good and the original of the copied file
  for (const std::string& id : broken) {
    EXPECT_FALSE(fs::exists(active / id)) << id;
    EXPECT_TRUE(fs::exists(dir_ / "corrupt" / id)) << id;
  }
  // Recovering again finds the same, and nothing else.
  auto second = spool_->recover();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->size(), 2u);
}

TEST_F(spool_test, load_and_open_refuse_damaged_files) {
  envelope env = commit_one(*spool_, sample_message());
  const fs::path file = dir_ / "active" / env.id;
  std::string bytes = read_all(file);
  bytes[bytes.size() - codec::k_trailer_size - 3] ^= 0x01;  // inside the envelope
  test::write_all(file, bytes);
  EXPECT_FALSE(spool_->load(env.id).has_value());
  EXPECT_FALSE(spool_->open_message(env.id).has_value());
  auto missing = spool_->load("0000000000NO");
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().permanent());
  EXPECT_FALSE(spool_->load("../../etc/passwd").has_value());
}

TEST_F(spool_test, recover_removes_incoming_files_and_stale_status_files) {
  envelope kept = commit_one(*spool_, sample_message());
  test::write_all(dir_ / "incoming" / "0000000000TORN", "half a queue file");
  test::write_all(dir_ / "incoming" / spool_->new_id(), std::string(100'000, 'x'));
  {
    // A writer that spilled, as a session killed in the middle of DATA leaves it.
    message_writer w = spool_->begin(spool_->new_id(), 1);
    w.append("partial");
    ASSERT_TRUE(w.spill().has_value());
    fs::copy_file(dir_ / "incoming" / names_in(dir_ / "incoming").back(),
                  dir_ / "incoming" / "0000000000COPY");
  }
  test::write_all(dir_ / "status" / "0000000000GONE", "status of a removed message");
  test::write_all(dir_ / "status" / (kept.id + ".7.tmp"), "interrupted update");

  auto recovered = open_spool(dir_)->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ(recovered->front().id, kept.id);
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());
  EXPECT_TRUE(names_in(dir_ / "status").empty());
}

TEST_F(spool_test, update_then_load_and_recover_see_the_new_state) {
  envelope env = commit_one(*spool_, sample_message());
  env.held = false;
  env.recipients[0].status = rcpt_status::Delivered;
  env.recipients[0].attempts = 1;
  env.recipients[0].last_reply = "delivered to maildir";
  env.recipients[1].status = rcpt_status::Deferred;
  env.recipients[1].attempts = 4;
  env.recipients[1].last_reply = "421 4.4.2 timeout";
  env.recipients[1].next_attempt = 1'800'000'000;
  env.recipients[2].status = rcpt_status::Pending;
  ASSERT_TRUE(spool_->update(env).has_value());
  EXPECT_EQ(names_in(dir_ / "status"), std::vector<std::string>{env.id});

  auto loaded = spool_->load(env.id);
  ASSERT_TRUE(loaded.has_value());
  expect_same(*loaded, env);

  env.recipients[1].status = rcpt_status::Failed;
  env.recipients[1].attempts = 5;
  env.held = true;
  ASSERT_TRUE(spool_->update(env).has_value());
  auto recovered = open_spool(dir_)->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), 1u);
  expect_same(recovered->front(), env);
  EXPECT_EQ(names_in(dir_ / "status"), std::vector<std::string>{env.id});
}

TEST_F(spool_test, a_damaged_status_file_falls_back_to_the_committed_state) {
  envelope committed = commit_one(*spool_, sample_message());
  envelope changed = committed;
  changed.recipients[0].status = rcpt_status::Delivered;
  ASSERT_TRUE(spool_->update(changed).has_value());
  std::string bytes = read_all(dir_ / "status" / committed.id);
  bytes[12] ^= 0x20;
  test::write_all(dir_ / "status" / committed.id, bytes);
  auto loaded = spool_->load(committed.id);
  ASSERT_TRUE(loaded.has_value());
  expect_same(*loaded, committed);
}

TEST_F(spool_test, remove_deletes_message_and_status) {
  envelope env = commit_one(*spool_, sample_message());
  ASSERT_TRUE(spool_->update(env).has_value());
  ASSERT_TRUE(spool_->remove(env.id).has_value());
  EXPECT_TRUE(names_in(dir_ / "active").empty());
  EXPECT_TRUE(names_in(dir_ / "status").empty());
  EXPECT_FALSE(spool_->load(env.id).has_value());
  EXPECT_TRUE(spool_->remove(env.id).has_value());  // already gone is fine
  auto recovered = spool_->recover();
  ASSERT_TRUE(recovered.has_value());
  EXPECT_TRUE(recovered->empty());
}

TEST_F(spool_test, commit_batch_commits_every_item_and_reports_each) {
  std::vector<envelope> envs;
  std::vector<std::string> messages;
  for (int i = 0; i < 20; ++i) {
    envs.push_back(full_envelope(spool_->new_id()));
    messages.push_back(sample_message(static_cast<std::size_t>(i * 100)));
  }
  envs[7].id = "bad/id";
  std::vector<spool::commit_item> items;
  for (std::size_t i = 0; i < envs.size(); ++i) {
    message_writer w = spool_->begin(envs[i].id, i % 2 == 0 ? 1024 : 1 << 20);
    w.append(messages[i]);
    if (w.wants_spill()) {
      ASSERT_TRUE(w.spill().has_value());
    }
    items.push_back({&envs[i], std::move(w)});
  }
  auto results = spool_->commit_batch(items);
  ASSERT_EQ(results.size(), envs.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].has_value(), i != 7) << i;
  }
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());
  auto recovered = open_spool(dir_)->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), envs.size() - 1);
  for (std::size_t i = 0, j = 0; i < envs.size(); ++i) {
    if (i == 7) {
      continue;
    }
    expect_same((*recovered)[j++], envs[i]);  // oldest id first
    auto reader = spool_->open_message(envs[i].id);
    ASSERT_TRUE(reader.has_value());
    EXPECT_EQ((*reader)->contents(), messages[i]);
  }
}

// A message nobody receives would be acknowledged with 250 and then vanish without a
// delivery or a bounce: the spool refuses it (4.3.0, so the client hears 451) and leaves
// nothing behind, alone or in a batch.
TEST_F(spool_test, commit_refuses_an_envelope_without_recipients) {
  envelope env = full_envelope(spool_->new_id());
  env.recipients.clear();
  message_writer w = spool_->begin(env.id, 1);
  w.append(sample_message());
  ASSERT_TRUE(w.spill().has_value());  // a spilled file must go too
  auto r = spool_->commit(env, std::move(w));
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().temporary());
  EXPECT_EQ(r.error().enhanced, "4.3.0");
  EXPECT_NE(r.error().message.find("no recipient"), std::string::npos) << r.error().message;
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());
  EXPECT_TRUE(names_in(dir_ / "active").empty());

  std::vector<envelope> envs;
  for (int i = 0; i < 3; ++i) {
    envs.push_back(full_envelope(spool_->new_id()));
  }
  envs[1].recipients.clear();
  std::vector<spool::commit_item> items;
  for (envelope& e : envs) {
    message_writer mw = spool_->begin(e.id);
    mw.append(sample_message());
    items.push_back({&e, std::move(mw)});
  }
  auto results = spool_->commit_batch(items);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].has_value());
  ASSERT_FALSE(results[1].has_value());
  EXPECT_EQ(results[1].error().enhanced, "4.3.0");
  EXPECT_TRUE(results[2].has_value());
  EXPECT_EQ(names_in(dir_ / "active"), (std::vector<std::string>{envs[0].id, envs[2].id}));
  EXPECT_TRUE(names_in(dir_ / "incoming").empty());
}

// A well-formed queue file without a recipient (never written by commit(): an older
// version, a hand-made file) is set aside as corrupt at recovery, never delivered to
// nobody and dropped.
TEST_F(spool_test, recover_sets_aside_a_queue_file_without_recipients) {
  envelope good = commit_one(*spool_, sample_message());
  envelope empty = full_envelope(spool_->new_id());
  empty.recipients.clear();
  const std::string message = sample_message();
  empty.size = message.size();
  const std::string header = codec::encode_header();
  const std::string env_bytes = codec::encode_envelope(empty);
  codec::trailer t;
  t.message_size = message.size();
  t.envelope_offset = t.message_offset + message.size();
  t.envelope_size = env_bytes.size();
  t.message_crc = crc32c(0, message);
  const std::string trailer = codec::encode_trailer(t, header, env_bytes);
  test::write_all(dir_ / "active" / empty.id, header + message + env_bytes + trailer);
  ::chmod((dir_ / "active" / empty.id).c_str(), 0600);

  auto recovered = open_spool(dir_)->recover();
  ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ(recovered->front().id, good.id);
  EXPECT_FALSE(fs::exists(dir_ / "active" / empty.id));
  EXPECT_EQ(read_all(dir_ / "corrupt" / empty.id), header + message + env_bytes + trailer);
}

TEST(queue_ids, are_short_safe_and_sorted_by_time) {
  temp_dir tmp;
  auto s = open_spool(tmp.path());
  std::string last;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = s->new_id();
    EXPECT_GE(id.size(), 12u);
    EXPECT_LE(id.size(), 16u);
    EXPECT_TRUE(std::ranges::all_of(id, [](char c) { return std::isalnum(c) != 0; })) << id;
    EXPECT_LT(last, id);
    last = id;
  }
}

TEST(queue_ids, are_unique_across_threads) {
  temp_dir tmp;
  auto s = open_spool(tmp.path());
  constexpr int k_threads = 8;
  constexpr int k_each = 20'000;
  std::vector<std::vector<std::string>> got(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      got[t].reserve(k_each);
      for (int i = 0; i < k_each; ++i) {
        got[t].push_back(s->new_id());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::set<std::string> all;
  for (const auto& ids : got) {
    EXPECT_TRUE(std::ranges::is_sorted(ids));
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), std::size_t{k_threads} * k_each);
}

}  // namespace
}  // namespace posthorn::queue

namespace posthorn::queue {
namespace {

// Header fields the checks add at the end of a message go in front of it, whether the
// message is still in memory or was spilled; read_message() sees every octet in order
// and recovery checks the rewritten file like any other (message CRC included).
TEST(spool_prepend, in_memory_and_spilled_messages_get_the_fields_on_top) {
  test::temp_dir tmp;
  auto s = open_spool(tmp.path() / "spool");
  ASSERT_TRUE(s);
  const std::string fields = "Authentication-Results: mx.example.test; spf=pass\r\n";
  for (const std::size_t lines : {3u, 40'000u}) {
    const std::string message = sample_message(lines);
    envelope env = test::full_envelope(s->new_id());
    env.junk = true;
    message_writer w = s->begin(env.id, 64 * 1024);
    for (std::size_t at = 0; at < message.size(); at += 1000) {
      w.append(std::string_view(message).substr(at, 1000));
      if (w.wants_spill()) {
        ASSERT_TRUE(w.spill().has_value());
      }
    }
    EXPECT_EQ(w.spilled(), lines > 3);
    ASSERT_TRUE(w.prepend(fields).has_value());
    EXPECT_EQ(w.size(), fields.size() + message.size());
    std::string seen;
    std::size_t chunks = 0;
    ASSERT_TRUE(read_message(w, [&](std::string_view c) {
                  EXPECT_LE(c.size(), 64u * 1024u);
                  seen += c;
                  ++chunks;
                }).has_value());
    EXPECT_EQ(seen, fields + message);
    if (lines > 3) {
      EXPECT_GT(chunks, 1u);
    }
    ASSERT_TRUE(s->commit(env, std::move(w)).has_value());
    auto m = s->open_message(env.id);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ((*m)->contents(), fields + message);
  }
  // Nothing left in incoming/ (the rewrite's temporary was renamed over the old file).
  EXPECT_TRUE(names_in(tmp.path() / "spool" / "incoming").empty());
  auto again = open_spool(tmp.path() / "spool");
  auto recovered = again->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), 2u);
  for (const envelope& e : *recovered) {
    EXPECT_TRUE(e.junk);
  }
  EXPECT_TRUE(names_in(tmp.path() / "spool" / "corrupt").empty());
}

}  // namespace
}  // namespace posthorn::queue
