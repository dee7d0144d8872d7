// chat_server — a line-based chat room: every line a client sends goes to all the others.
//
// Seed idea ("good for: chat servers, handling many users simultaneously"): one thread, one
// handler task per client, and state shared between them without a lock, because a task is
// only ever interrupted at a co_await. The room is a plain list of the members' writers: a
// handler adds its writer when its client joins and an RAII guard removes it when the handler
// ends, however it ends (end of file, error, the server closing), so the list only ever points
// at writers that are alive.
//
// The demo starts the server and three scripted clients (alice, bob, carol) driven from one
// coroutine step by step, so the printed order is the same on every run; then a client that
// never reads (dave) shows why the broadcaster must not wait for slow readers.
//
//   chat_server [--scale F]   the demo (self-contained; ends on its own)
//   chat_server --port N      serves on 127.0.0.1:N until Ctrl-C; try `nc 127.0.0.1 N` in a
//                             few terminals (first line: your name)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace example; // --port, say(): examples/common.hpp

// What one client may have queued, unsent, before the server drops it.
constexpr std::size_t max_backlog = std::size_t{1024} * 1024;

std::string chomp(std::string line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.pop_back();
    }
    return line;
}

// ---- The server's shared state.
//
// Broadcasting writes to each member's writer WITHOUT draining it. drain() waits while a
// client's buffer is over the high-water mark; a broadcaster that drained every recipient would
// stall the sender's handler (and so every message from that sender) on the slowest reader in
// the room. write() never waits: it queues the bytes and the writer's background send pushes
// them out as fast as that one client reads. What drain() would have bounded is bounded here
// instead: a member whose queue grows past max_backlog is not reading, and is dropped (its
// writer aborted: the connection is shut, its handler's readline sees end of file, its guard
// removes it). Each handler still drains its OWN writer where it waits for its own client.
class chat_room {
  public:
    // A handler's membership: joins on construction, leaves on destruction. The writer is the
    // handler's (it lives in the server's connection task, longer than the handler's frame).
    class member {
      public:
        member(chat_room& room, std::string name, eddy::stream_writer& writer)
            : room_(room), writer_(&writer) {
            room_.join(std::move(name), writer);
        }
        member(const member&) = delete;
        member& operator=(const member&) = delete;
        ~member() { room_.leave(writer_); }

      private:
        chat_room& room_;
        eddy::stream_writer* writer_;
    };

    // Sends `line` to every member but `from`. Never waits.
    void broadcast(const std::string& line, const eddy::stream_writer* from) {
        for (entry& e : entries_) {
            if (e.writer == from || e.writer->is_closing()) {
                continue; // the sender, or a member on its way out
            }
            try {
                e.writer->write(line);
            } catch (const std::exception&) {
                continue; // its send failed (the client vanished): its own handler will end
            }
            if (e.writer->write_buffer_size() > max_backlog) {
                e.dropped = true;
                e.writer->abort();
            }
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  private:
    struct entry {
        std::string name;
        eddy::stream_writer* writer;
        bool dropped = false;
    };

    void join(std::string name, eddy::stream_writer& writer) {
        std::string here;
        for (const entry& e : entries_) {
            here += (here.empty() ? "" : ", ") + e.name;
        }
        writer.write("* welcome, " + name + " (" +
                     (here.empty() ? "nobody else here" : "here: " + here) + ")\n");
        broadcast("* " + name + " joined\n", &writer);
        entries_.push_back(entry{std::move(name), &writer});
    }
    void leave(const eddy::stream_writer* writer) noexcept {
        const auto it = std::find_if(entries_.begin(), entries_.end(),
                                     [&](const entry& e) { return e.writer == writer; });
        entry gone = std::move(*it);
        entries_.erase(it);
        try {
            broadcast(gone.dropped ? "* " + gone.name + " was dropped (not reading)\n"
                                   : "* " + gone.name + " left\n",
                      nullptr);
        } catch (const std::exception&) { // out of memory: the others miss one announcement
        }
    }

    std::vector<entry> entries_;
};

// ---- One client's session: its first line is its name, every other line goes to the room.
eddy::task<> session(chat_room& room, eddy::stream_reader& reader, eddy::stream_writer& writer) {
    const std::string name = chomp(co_await reader.readline());
    if (name.empty()) {
        co_return; // left (or sent an empty line) before saying who it is
    }
    chat_room::member in_room(room, name, writer);
    for (;;) {
        const std::string line = co_await reader.readline();
        if (line.empty()) {
            co_return; // end of file: the client left (in_room announces it)
        }
        room.broadcast(name + ": " + chomp(line) + "\n", &writer);
        co_await writer.drain(); // only this client's own queue (see chat_room)
    }
}

[[nodiscard]] eddy::task<eddy::server> start_chat(chat_room& room, std::uint16_t port) {
    // Not a coroutine: it only passes `room` on, so nothing refers to the lambda after the
    // call. `room` outlives the server (the caller waits for it to close).
    auto handler = [&room](eddy::stream_reader& r, eddy::stream_writer& w) {
        return session(room, r, w);
    };
    co_return co_await eddy::start_server(handler, "127.0.0.1", port);
}

// ---- The scripted clients.
struct client {
    std::string name;
    eddy::connection conn;
};

eddy::task<client> join(std::uint16_t port, std::string name) {
    say("%s joins\n", name.c_str());
    eddy::connection conn = co_await eddy::open_connection("127.0.0.1", port);
    conn.writer.write(name + "\n");
    co_return client{std::move(name), std::move(conn)};
}

eddy::task<std::string> next_line(eddy::stream_reader& reader) {
    co_return chomp(co_await reader.readline());
}

// Waits for the next line `c` receives and prints it.
eddy::task<> hear(client& c) {
    const std::string line = co_await next_line(c.conn.reader);
    say("  %-5s hears: %s\n", c.name.c_str(), line.c_str());
}

void speak(client& c, const std::string& text) {
    say("%s says: %s\n", c.name.c_str(), text.c_str());
    c.conn.writer.write(text + "\n");
}

eddy::task<> leave(client& c) {
    say("%s leaves\n", c.name.c_str());
    c.conn.writer.close(); // the server's readline sees end of file
    co_await c.conn.writer.wait_closed();
}

// Part 2: dave joins and never reads; erin writes until the server gives up on dave.
eddy::task<> slow_reader(std::uint16_t port) {
    client dave = co_await join(port, "dave");
    co_await hear(dave); // his welcome; he reads nothing after it
    client erin = co_await join(port, "erin");
    co_await hear(erin);
    say("dave stops reading; erin sends 1 KiB lines until the server drops him\n");
    eddy::task_handle<std::string> news = eddy::create_task(next_line(erin.conn.reader));
    const std::string kib(1023, 'x');
    std::size_t sent = 0;
    while (!news.done() && sent < 64 * max_backlog) {
        for (int i = 0; i < 64; ++i) {
            erin.conn.writer.write(kib + "\n");
        }
        sent += std::size_t{64} * 1024;
        co_await erin.conn.writer.drain();
        co_await eddy::yield(); // let the server (and `news`) run even when drain need not wait
    }
    if (!news.done()) {
        say("  dave was never dropped: erin gave up after %zu KiB\n", sent / 1024);
        news.cancel();
        co_await leave(erin);
        co_return;
    }
    const std::string line = co_await news;
    say("  %-5s hears: %s\n", erin.name.c_str(), line.c_str());
    say("  (after erin sent %zu KiB: dave's queue grew past %zu KiB and the server stopped "
        "waiting for him)\n",
        sent / 1024, max_backlog / 1024);
    co_await leave(erin);
}

eddy::task<> demo() {
    chat_room room;
    eddy::server srv = co_await start_chat(room, 0);
    say("chat server on %s\n", srv.addresses().front().to_string().c_str());

    client alice = co_await join(srv.port(), "alice");
    co_await hear(alice);
    client bob = co_await join(srv.port(), "bob");
    co_await hear(bob);
    co_await hear(alice);
    client carol = co_await join(srv.port(), "carol");
    co_await hear(carol);
    co_await hear(alice);
    co_await hear(bob);

    speak(alice, "hi everyone");
    co_await hear(bob);
    co_await hear(carol);
    speak(bob, "hey alice! carol, got the slides?");
    co_await hear(alice);
    co_await hear(carol);
    speak(carol, "sending them now");
    co_await hear(alice);
    co_await hear(bob);

    co_await leave(alice);
    co_await hear(bob);
    co_await hear(carol);
    co_await leave(bob);
    co_await hear(carol);
    co_await leave(carol);
    // The clients are gone; the server notices each departure on its next loop turns. Part 2
    // starts with an empty room so that its welcome lines are always the same.
    while (room.size() != 0) {
        co_await eddy::yield();
    }

    say("\n");
    co_await slow_reader(srv.port());

    srv.close();
    co_await srv.wait_closed();
    say("server closed with %zu members left in the room\n", room.size());
}

eddy::task<> serve(std::uint16_t port) {
    chat_room room;
    eddy::server srv = co_await start_chat(room, port);
    say("chat server on %s; Ctrl-C stops it\n", srv.addresses().front().to_string().c_str());
    co_await srv.serve_forever();
}

} // namespace

int main(int argc, char** argv) try {
    unsigned port = 0;
    if (!parse_args(argc, argv, &port)) {
        std::fprintf(stderr, "usage: %s [--scale F] [--port N]\n", argv[0]);
        return 2;
    }
    if (port != 0) {
        return serve_until_interrupted(serve(static_cast<std::uint16_t>(port)));
    }
    eddy::run(demo());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
