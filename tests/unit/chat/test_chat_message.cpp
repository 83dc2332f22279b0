// Tests for servers/chat/message.hpp: lines formatted once, shared, merged into spans.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "message.hpp"

using chat::Line;
using chat::LineBuffer;

namespace {

std::string joined(const std::vector<Line>& spans) {
  std::string s;
  for (const Line& l : spans) s += l.text();
  return s;
}

// What Client::deliver does with its outbox.
void deliver(std::vector<Line>& outbox, const Line& line) {
  if (outbox.empty() || !outbox.back().extend(line)) outbox.push_back(line);
}

}  // namespace

TEST_CASE("format_line appends a newline and owns its bytes", "[chat][message]") {
  Line l = chat::format_line("* joined #", std::string("room"), " (", "3", " members)");
  CHECK(l.text() == "* joined #room (3 members)\n");
  CHECK(l.size() == l.text().size());
  Line copy = l;
  l = Line{};
  CHECK(copy.text() == "* joined #room (3 members)\n");
}

TEST_CASE("consecutive broadcasts merge into one span per receiver", "[chat][message]") {
  LineBuffer room;
  std::vector<Line> outbox;
  for (int i = 0; i < 100; ++i) deliver(outbox, room.format("<ann> line ", std::to_string(i)));
  REQUIRE(outbox.size() == 1);
  CHECK(joined(outbox).starts_with("<ann> line 0\n<ann> line 1\n"));
  CHECK(joined(outbox).ends_with("<ann> line 99\n"));
}

TEST_CASE("a receiver's span breaks around the lines it does not get", "[chat][message]") {
  LineBuffer room;
  std::vector<Line> bob;  // gets everyone's lines but his own
  deliver(bob, room.format("<ann> a"));
  room.format("<bob> b");  // bob's own: not delivered to him
  deliver(bob, room.format("<ann> c"));
  deliver(bob, room.format("<cy> d"));
  REQUIRE(bob.size() == 2);
  CHECK(joined(bob) == "<ann> a\n<ann> c\n<cy> d\n");
}

TEST_CASE("lines from different chunks stay separate spans, in order", "[chat][message]") {
  LineBuffer room;
  std::vector<Line> outbox;
  deliver(outbox, room.format("<ann> one"));
  deliver(outbox, chat::format_line("[pm] <cy> psst"));
  deliver(outbox, room.format("<ann> two"));
  REQUIRE(outbox.size() == 3);
  CHECK(joined(outbox) == "<ann> one\n[pm] <cy> psst\n<ann> two\n");
}

TEST_CASE("a full chunk is replaced, and lines already queued stay intact", "[chat][message]") {
  LineBuffer room;
  std::vector<Line> outbox;
  const std::string pad(1000, 'x');
  std::string want;
  for (int i = 0; i < 200; ++i) {  // about 200 KB: several chunks
    std::string n = std::to_string(i);
    deliver(outbox, room.format(n, " ", pad));
    want += n + " " + pad + "\n";
  }
  CHECK(outbox.size() > 1);
  CHECK(outbox.size() < 10);
  CHECK(joined(outbox) == want);
}

TEST_CASE("a chunk is reused only once every line in it has been written", "[chat][message]") {
  LineBuffer room;
  std::vector<Line> outbox;
  deliver(outbox, room.format("<ann> first"));
  const char* first = outbox.front().text().data();
  // Still queued: the next line must not overwrite it.
  deliver(outbox, room.format("<ann> second"));
  CHECK(joined(outbox) == "<ann> first\n<ann> second\n");
  outbox.clear();  // written: nothing refers to the chunk but the room
  Line again = room.format("<ann> third");
  CHECK(again.text() == "<ann> third\n");
  CHECK(again.text().data() == first);  // rewound, not a new allocation
}

TEST_CASE("a line longer than a chunk gets a chunk of its own size", "[chat][message]") {
  LineBuffer room;
  const std::string big(LineBuffer::chunk_capacity * 2, 'y');
  Line l = room.format("<ann> ", big);
  CHECK(l.size() == big.size() + 7);
  CHECK(l.text().substr(0, 6) == "<ann> ");
  Line next = room.format("<ann> small");
  CHECK(next.text() == "<ann> small\n");
}
