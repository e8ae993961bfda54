// WebServer::answer() without sockets: the landing page, /-/healthy, /-/ready and
// POST /-/reload by Prometheus conventions.
#include <catch2/catch.hpp>

#include "mailcanary/agent/http/web_server.hpp"

using mailcanary::agent::WebServer;

namespace {

struct Fixture {
  bool ready = false;
  int reloads = 0;
  WebServer::Handlers handlers(bool with_reload) {
    WebServer::Handlers h;
    h.metrics = [] { return std::string("m 1\n"); };
    h.status = [] { return std::string("{}"); };
    h.health = [](const std::string&, const std::string&) { return WebServer::Response{}; };
    h.ready = [this] { return ready; };
    if (with_reload) {
      h.reload = [this] { ++reloads; };
    }
    return h;
  }
};

}  // namespace

TEST_CASE("/ is a landing page linking every endpoint", "[web]") {
  Fixture f;
  WebServer web("127.0.0.1", 0, f.handlers(false));
  auto r = web.answer("GET", "/");
  CHECK(r.code == 200);
  CHECK(r.content_type == "text/html; charset=utf-8");
  for (const char* link : {"href=\"metrics\"", "href=\"status\"", "/health/TARGET/MEMBER",
                           "href=\"-/ready\"", "/-/reload"}) {
    CHECK(r.body.find(link) != std::string::npos);
  }
  CHECK(web.answer("GET", "/-/healthy").code == 200);
  CHECK(web.answer("GET", "/nothing").code == 404);
}

TEST_CASE("/-/ready is 503 until the members are scheduled", "[web]") {
  Fixture f;
  WebServer web("127.0.0.1", 0, f.handlers(false));
  auto before = web.answer("GET", "/-/ready");
  CHECK(before.code == 503);
  CHECK(before.body.find("not ready") != std::string::npos);
  f.ready = true;
  CHECK(web.answer("GET", "/-/ready").code == 200);
  CHECK(web.answer("HEAD", "/-/ready").code == 200);
}

TEST_CASE("POST /-/reload asks for a reload; only when turned on, only by POST", "[web]") {
  Fixture off;
  WebServer closed("127.0.0.1", 0, off.handlers(false));
  auto refused = closed.answer("POST", "/-/reload");
  CHECK(refused.code == 403);
  CHECK(refused.body.find("reload_endpoint = true") != std::string::npos);

  Fixture on;
  WebServer open("127.0.0.1", 0, on.handlers(true));
  CHECK(open.answer("GET", "/-/reload").code == 405);
  CHECK(on.reloads == 0);
  CHECK(open.answer("POST", "/-/reload").code == 200);
  CHECK(on.reloads == 1);
  // Every other path still takes GET and HEAD only.
  CHECK(open.answer("POST", "/metrics").code == 405);
}

TEST_CASE("/status/TARGET/MEMBER answers one member, its parts URL-decoded", "[web]") {
  Fixture f;
  auto h = f.handlers(false);
  std::vector<std::pair<std::string, std::string>> asked;
  h.member_status = [&](const std::string& t, const std::string& m) {
    asked.emplace_back(t, m);
    return WebServer::Response{200, "application/json", "{}"};
  };
  WebServer web("127.0.0.1", 0, h);
  CHECK(web.answer("GET", "/status/vip1/127.0.0.12%3A2525").code == 200);
  CHECK(web.answer("GET", "/status/vip1/%5B%3A%3A1%5D%3A25").code == 200);
  REQUIRE(asked.size() == 2);
  CHECK(asked[0] == std::pair<std::string, std::string>{"vip1", "127.0.0.12:2525"});
  CHECK(asked[1] == std::pair<std::string, std::string>{"vip1", "[::1]:25"});
  CHECK(web.answer("GET", "/status/vip1").code == 404);
  CHECK(web.answer("GET", "/status/vip1/").code == 404);
  // Without the handler (an embedding that has none): 404, not a crash.
  WebServer bare("127.0.0.1", 0, f.handlers(false));
  CHECK(bare.answer("GET", "/status/vip1/m").code == 404);
}
