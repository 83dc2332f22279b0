// examples/fetch_urls.cpp — fetch several URLs concurrently, against a local HTTP server.
//
//   async def fetch(url):
//       async with aiohttp.ClientSession() as session:
//           async with session.get(url) as response:
//               return await response.text()
//
//   results = await asyncio.gather(*(fetch(url) for url in urls))
//
// No HTTP library is needed for one GET: open_connection, write the request,
// read the response up to EOF (HTTP/1.0: the server closes when done). The
// server is started by the program itself on 127.0.0.1 port 0; each path
// answers after a delay of its own, so the three fetches take as long as the
// slowest one, not as long as all three together.
#include <aio/aio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

// --- the local server: GET /<delay in ms> answers "waited <delay> ms" -------

aio::Task<> handle_http(aio::StreamReader reader, aio::StreamWriter writer) {
  const std::string request_line = co_await reader.readline();  // "GET /200 HTTP/1.0\r\n"
  for (;;) {                                                     // the headers, up to the blank line
    const std::string header = co_await reader.readline();
    if (header == "\r\n" || header == "\n" || header.empty()) break;
  }
  const auto path_start = request_line.find(' ') + 1;
  const auto path_end = request_line.find(' ', path_start);
  const std::string path = request_line.substr(path_start, path_end - path_start);
  std::string status = "200 OK", body;
  char* end = nullptr;
  const long delay_ms = path.size() > 1 ? std::strtol(path.c_str() + 1, &end, 10) : -1;
  if (delay_ms >= 0 && end && *end == '\0') {
    co_await aio::sleep(std::chrono::milliseconds(delay_ms));
    body = "waited " + std::to_string(delay_ms) + " ms\n";
  } else {
    status = "404 Not Found";
    body = "no such page\n";
  }
  writer.write("HTTP/1.0 " + status + "\r\nContent-Type: text/plain\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
  writer.close();
  co_await writer.wait_closed();
}

// --- the client ------------------------------------------------------------

struct Page {
  std::string url;
  std::string status;  // "200 OK"
  std::string body;
};

// http://HOST:PORT/PATH only: enough for the example.
aio::Task<Page> fetch(std::string url) {
  const std::string_view rest = std::string_view(url).substr(std::string_view("http://").size());
  const auto colon = rest.find(':');
  const auto slash = rest.find('/');
  const std::string host(rest.substr(0, colon));
  const auto port = static_cast<std::uint16_t>(std::stoi(std::string(rest.substr(colon + 1, slash - colon - 1))));
  const std::string path(rest.substr(slash));

  auto [reader, writer] = co_await aio::open_connection(host, port);
  writer.write("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n");
  co_await writer.drain();
  const std::string response = co_await reader.read();  // everything, up to EOF
  writer.close();

  Page page{url, {}, {}};
  const auto status_start = response.find(' ') + 1;
  page.status = response.substr(status_start, response.find("\r\n") - status_start);
  page.body = response.substr(response.find("\r\n\r\n") + 4);
  std::printf("fetched %s\n", path.c_str());
  co_return page;
}

aio::Task<> main_task() {
  auto server = co_await aio::start_server(handle_http, "127.0.0.1", 0);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  const std::vector<std::string> urls = {base + "/300", base + "/100", base + "/200", base + "/nothing"};

  auto& loop = aio::get_running_loop();
  const double start = loop.time();
  std::vector<aio::Task<Page>> fetches;
  for (auto& url : urls) fetches.push_back(fetch(url));
  const auto pages = co_await aio::gather(std::move(fetches));  // results in the order of `urls`
  const double took = loop.time() - start;

  for (auto& page : pages)
    std::printf("%s -> %s: %s", page.url.substr(base.size()).c_str(), page.status.c_str(), page.body.c_str());
  std::printf("4 pages (600 ms of waiting) in %.2f s\n", took);
  server.close();
  co_await server.wait_closed();
}

int main() { aio::run(main_task()); }

//> fetched /nothing
//> fetched /100
//> fetched /200
//> fetched /300
//> /300 -> 200 OK: waited 300 ms
//> /100 -> 200 OK: waited 100 ms
//> /200 -> 200 OK: waited 200 ms
//> /nothing -> 404 Not Found: no such page
//> 4 pages (600 ms of waiting) in {0.3..0.5} s
