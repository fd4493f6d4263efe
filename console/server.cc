#include "console/server.h"

#include <google/protobuf/struct.pb.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto/key_file.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread.h"
#include "console/import_jobs.h"
#include "console/json_api.h"
#include "console/record_words.h"
#include "records/dates.h"

namespace tongban::console {
namespace {

constexpr char kCookie[] = "__Host-tb_session";
constexpr size_t kMaxAssetBytes = 4 << 20;

// Scripts and styles from this origin only; Bootstrap's form controls draw
// with data: SVG images.
constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'";

struct Asset {
  std::string body;
  std::string type;
};

std::string MimeOf(const std::filesystem::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json; charset=utf-8";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  return "application/octet-stream";
}

absl::StatusOr<std::string> ReadAsset(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(path, ": ", ec.message()));
  if (size > kMaxAssetBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", kMaxAssetBytes));
  }
  std::ifstream in(path, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof())
    return absl::InvalidArgumentError(absl::StrCat(path, ": unreadable"));
  return body;
}

// Every file under `dir`, by URL path "/assets/<relative path>".
absl::StatusOr<std::map<std::string, Asset>> LoadAssets(const std::string& dir) {
  std::map<std::string, Asset> out;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(dir, ec), end;
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("console.assets: ", dir, ": ", ec.message(), " (the console's pages)"));
  }
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", ec.message()));
    if (!it->is_regular_file()) continue;
    TB_ASSIGN_OR_RETURN(std::string body, ReadAsset(it->path().string()));
    const std::string rel = std::filesystem::relative(it->path(), dir).generic_string();
    out["/assets/" + rel] = {std::move(body), MimeOf(it->path())};
  }
  for (const char* required : {"/assets/index.html", "/assets/nocert.html", "/assets/app.js"}) {
    if (!out.count(required)) {
      return absl::InvalidArgumentError(absl::StrCat("console.assets: ", dir, " has no ",
                                                     absl::StripPrefix(required, "/assets/")));
    }
  }
  return out;
}

// The SHA-256 fingerprint of the connection's verified client certificate
// (as pki::Certificate::Sha256Fingerprint writes it), or "" without one:
// what every call after sign-in checks, without decoding the certificate.
std::string ClientFingerprint(const httplib::Request& req) {
  if (req.ssl == nullptr || SSL_get_verify_result(req.ssl) != X509_V_OK) return "";
  X509* x = SSL_get0_peer_certificate(req.ssl);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (x == nullptr || X509_digest(x, EVP_sha256(), md, &len) != 1) return "";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out.push_back(':');
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

// The verified client certificate of the connection, if any.
std::optional<pki::Certificate> ClientCertificate(const httplib::Request& req) {
  if (req.ssl == nullptr) return std::nullopt;
  if (SSL_get_verify_result(req.ssl) != X509_V_OK) return std::nullopt;
  X509* x = SSL_get1_peer_certificate(req.ssl);
  if (x == nullptr) return std::nullopt;
  std::unique_ptr<X509, void (*)(X509*)> owned(x, X509_free);
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), x) != 1) return std::nullopt;
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  absl::StatusOr<pki::Certificate> cert =
      pki::Certificate::FromPem(absl::string_view(data, static_cast<size_t>(len)));
  if (!cert.ok()) return std::nullopt;
  return *std::move(cert);
}

std::string CookieValue(const httplib::Request& req, absl::string_view name) {
  for (size_t i = 0; i < req.get_header_value_count("Cookie"); ++i) {
    for (absl::string_view part : absl::StrSplit(req.get_header_value("Cookie", i), ';')) {
      part = absl::StripAsciiWhitespace(part);
      if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
        return std::string(part);
      }
    }
  }
  return "";
}

void Send(httplib::Response& res, const JsonReply& r) {
  res.status = r.http_status;
  res.set_header("Cache-Control", "no-store");
  if (!r.filename.empty()) {
    res.set_header("Content-Disposition",
                   absl::StrCat("attachment; filename=\"", r.filename, "\""));
  }
  res.set_content(r.body, r.content_type);
}

JsonReply Ok(std::string body, std::string type = "application/json; charset=utf-8",
             std::string filename = "") {
  JsonReply r;
  r.body = std::move(body);
  r.content_type = std::move(type);
  r.filename = std::move(filename);
  return r;
}

void SendError(httplib::Response& res, const absl::Status& s) { Send(res, ErrorReply(s)); }

// A field of a JSON object body, "" if absent or not a string.
std::string Field(const google::protobuf::Struct& body, const std::string& name) {
  auto it = body.fields().find(name);
  return it != body.fields().end() && it->second.has_string_value() ? it->second.string_value()
                                                                    : "";
}

std::string PercentDecode(absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    int hi, lo;
    auto hex = [](char c) {
      return absl::ascii_isdigit(c)   ? c - '0'
             : (c >= 'a' && c <= 'f') ? c - 'a' + 10
             : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                      : -1;
    };
    if (in[i] == '%' && i + 2 < in.size() + 0 && (hi = hex(in[i + 1])) >= 0 &&
        (lo = hex(in[i + 2])) >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::string ProgressJson(const ImportProgress& p) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["job"].set_string_value(p.job);
  f["file"].set_string_value(p.file);
  f["bytes_total"].set_number_value(static_cast<double>(p.bytes_total));
  f["bytes_read"].set_number_value(static_cast<double>(p.bytes_read));
  f["rows"].set_number_value(static_cast<double>(p.rows));
  f["written"].set_number_value(static_cast<double>(p.written));
  f["unchanged"].set_number_value(static_cast<double>(p.unchanged));
  f["rejected"].set_number_value(static_cast<double>(p.rejected));
  f["flagged"].set_number_value(static_cast<double>(p.flagged));
  f["done"].set_bool_value(p.done);
  f["error"].set_string_value(p.error);
  absl::StatusOr<std::string> json = ToJson(s);
  return json.ok() ? *json : "{}";
}

}  // namespace

struct ConsoleServer::Impl {
  ConsoleOptions options;
  std::map<std::string, Asset> assets;
  std::unique_ptr<SessionStore> sessions;
  std::unique_ptr<JsonApi> api;
  std::unique_ptr<ImportJobs> imports;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread thread;
  int port = 0;
  bool stopped = false;

  // The request's verified client certificate, or a 403 sent.
  std::optional<pki::Certificate> RequireCertificate(const httplib::Request& req,
                                                     httplib::Response& res) {
    std::optional<pki::Certificate> cert = ClientCertificate(req);
    if (!cert.has_value()) {
      SendError(res, absl::PermissionDeniedError(
                         "an operator certificate from this county's operator CA is required"));
    }
    return cert;
  }

  // OK if the request comes from the console's own origin (a browser's
  // fetch always says where it comes from).
  absl::Status SameOrigin(const httplib::Request& req) {
    const std::string origin = req.get_header_value("Origin");
    const std::string host = req.get_header_value("Host");
    if (origin.empty() || host.empty() || origin != absl::StrCat("https://", host)) {
      return absl::PermissionDeniedError("this request does not come from the console's own page");
    }
    return absl::OkStatus();
  }

  // The signed-in session of the request, its certificate and origin
  // checked, and for a change its CSRF token; or the refusal sent.
  std::optional<Session> RequireSession(const httplib::Request& req, httplib::Response& res,
                                        bool change) {
    const std::string fingerprint = ClientFingerprint(req);
    if (fingerprint.empty()) {
      SendError(res, absl::PermissionDeniedError(
                         "an operator certificate from this county's operator CA is required"));
      return std::nullopt;
    }
    if (absl::Status s = SameOrigin(req); !s.ok()) {
      SendError(res, s);
      return std::nullopt;
    }
    absl::StatusOr<Session> session = sessions->Use(CookieValue(req, kCookie), fingerprint);
    if (!session.ok()) {
      SendError(res, session.status());
      return std::nullopt;
    }
    if (change && req.get_header_value("X-CSRF-Token") != session->csrf) {
      SendError(res, absl::PermissionDeniedError(
                         "the request lacks this session's CSRF token (X-CSRF-Token)"));
      return std::nullopt;
    }
    return *std::move(session);
  }

  std::string SessionJson(const Session& s) {
    google::protobuf::Struct j;
    auto& f = *j.mutable_fields();
    f["operator"].set_string_value(s.op.name);
    f["role"].set_string_value(std::string(admin::RoleName(s.op.role)));
    f["county"].set_string_value(s.op.county);
    f["node"].set_string_value(options.node);
    f["node_role"].set_string_value(options.node_role);
    f["csrf"].set_string_value(s.csrf);
    f["idle_seconds"].set_number_value(absl::ToDoubleSeconds(options.sessions.idle));
    f["lifetime_seconds"].set_number_value(absl::ToDoubleSeconds(options.sessions.lifetime));
    auto* pages = f["pages"].mutable_list_value();
    for (const std::string& p : Pages(s.op.role, options.node_role)) {
      pages->add_values()->set_string_value(p);
    }
    absl::StatusOr<std::string> json = ToJson(j);
    return json.ok() ? *json : "{}";
  }

  void Routes() {
    httplib::Server& s = *server;
    s.set_default_headers({{"Content-Security-Policy", kCsp},
                           {"X-Content-Type-Options", "nosniff"},
                           {"Referrer-Policy", "no-referrer"},
                           {"X-Frame-Options", "DENY"},
                           {"Strict-Transport-Security", "max-age=31536000"},
                           {"Cross-Origin-Opener-Policy", "same-origin"}});
    s.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
      const bool cert = ClientCertificate(req).has_value();
      const Asset& page = assets.at(cert ? "/assets/index.html" : "/assets/nocert.html");
      res.status = cert ? 200 : 403;
      res.set_header("Cache-Control", "no-store");
      res.set_content(page.body, page.type);
    });
    auto serve = [this](const httplib::Request& req, httplib::Response& res) {
      auto it = assets.find(req.path);
      if (it == assets.end()) {
        res.status = 404;
        res.set_content("not found\n", "text/plain; charset=utf-8");
        return;
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_content(it->second.body, it->second.type);
    };
    s.Get("/assets/.*", serve);
    s.Get("/vendor/.*", serve);

    s.Post("/api/login", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<pki::Certificate> cert = RequireCertificate(req, res);
      if (!cert.has_value()) return;
      if (absl::Status st = SameOrigin(req); !st.ok()) return SendError(res, st);
      google::protobuf::Struct body;
      if (absl::Status st = FromJson(req.body, &body); !st.ok()) return SendError(res, st);
      absl::StatusOr<admin::Operator> op =
          options.authenticate(*cert, Field(body, "password"), Field(body, "totp"));
      if (!op.ok()) return SendError(res, op.status());
      absl::StatusOr<Session> session = sessions->Open(*op, cert->Sha256Fingerprint());
      if (!session.ok()) return SendError(res, session.status());
      TB_LOG(INFO) << "console: operator " << op->name << " (" << admin::RoleName(op->role)
                   << ") signed in";
      res.set_header("Set-Cookie", absl::StrCat(kCookie, "=", session->id,
                                                "; Path=/; Secure; HttpOnly; SameSite=Strict"));
      Send(res, Ok(SessionJson(*session)));
    });
    s.Post("/api/session", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<Session> session = RequireSession(req, res, /*change=*/false);
      if (!session.has_value()) return;
      Send(res, Ok(SessionJson(*session)));
    });
    s.Post("/api/logout", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<Session> session = RequireSession(req, res, /*change=*/true);
      if (!session.has_value()) return;
      sessions->Close(session->id);
      res.set_header(
          "Set-Cookie",
          absl::StrCat(kCookie, "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"));
      Send(res, Ok("{}"));
    });
    s.Post(R"(/api/call/(\w+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<Session> session = RequireSession(req, res, /*change=*/true);
      if (!session.has_value()) return;
      Send(res, api->Call(session->op, req.matches[1].str(), req.body));
    });
    s.Post("/api/import/start", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<Session> session = RequireSession(req, res, /*change=*/true);
      if (!session.has_value()) return;
      std::string file = PercentDecode(req.get_header_value("X-File-Name"));
      if (file.empty()) file = "upload.csv";
      const std::string encoding = req.get_header_value("X-Encoding");
      absl::StatusOr<ImportProgress> p =
          imports->Start(session->op, file, req.body, encoding.empty() ? "utf-8" : encoding);
      if (!p.ok()) return SendError(res, p.status());
      Send(res, Ok(ProgressJson(*p)));
    });
    s.Post("/api/import/progress", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<Session> session = RequireSession(req, res, /*change=*/true);
      if (!session.has_value()) return;
      google::protobuf::Struct body;
      if (absl::Status st = FromJson(req.body, &body); !st.ok()) return SendError(res, st);
      absl::StatusOr<ImportProgress> p = imports->Progress(session->op, Field(body, "job"));
      if (!p.ok()) return SendError(res, p.status());
      Send(res, Ok(ProgressJson(*p)));
    });
    s.Post("/api/import/findings", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<Session> session = RequireSession(req, res, /*change=*/true);
      if (!session.has_value()) return;
      google::protobuf::Struct body;
      if (absl::Status st = FromJson(req.body, &body); !st.ok()) return SendError(res, st);
      absl::StatusOr<std::string> csv = imports->Findings(session->op, Field(body, "job"));
      if (!csv.ok()) return SendError(res, csv.status());
      Send(res, Ok(*std::move(csv), "text/csv; charset=utf-8", "findings.csv"));
    });
    s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) {
        res.set_content(absl::StrCat(res.status, "\n"), "text/plain; charset=utf-8");
      }
    });
    s.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          SendError(res, absl::InternalError("the console failed to answer this request"));
        });
  }
};

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConsoleServer::~ConsoleServer() { Stop(); }

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(ConsoleOptions options) {
  if (options.api == nullptr || !options.authenticate || options.clock == nullptr ||
      options.operator_ca_pem.empty() || options.cert_pem.empty() || options.key_pem.empty()) {
    return absl::InvalidArgumentError(
        "console: api, authenticate, clock, operator CA and TLS identity are required");
  }
  auto impl = std::make_unique<Impl>();
  TB_ASSIGN_OR_RETURN(impl->assets, LoadAssets(options.assets_dir));
  for (const auto& [url, lang] : {std::pair{"/assets/i18n/zh-CN.json", records::Lang::kZh},
                                  std::pair{"/assets/i18n/en.json", records::Lang::kEn}}) {
    auto it = impl->assets.find(url);
    if (it == impl->assets.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("console.assets: ", options.assets_dir, " has no ", url + 8));
    }
    absl::StatusOr<std::string> merged = MergeRecordWords(it->second.body, lang);
    if (!merged.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("console.assets: ", options.assets_dir, "/",
                                                     url + 8, ": ", merged.status().message()));
    }
    it->second.body = *std::move(merged);
  }
  const std::pair<const char*, const char*> vendor[] = {
      {"/vendor/bootstrap.min.css", "bootstrap5/css/bootstrap.min.css"},
      {"/vendor/chart.min.js", "chart.js/chart.min.js"}};
  for (const auto& [url, file] : vendor) {
    const std::string path = absl::StrCat(options.javascript_dir, "/", file);
    absl::StatusOr<std::string> body = ReadAsset(path);
    if (!body.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("console.javascript: ", body.status().message(),
                       " (Debian's libjs-bootstrap5 and libjs-chart.js install it)"));
    }
    impl->assets[url] = {*std::move(body), MimeOf(file)};
  }
  TB_ASSIGN_OR_RETURN(pki::Certificate ca, pki::Certificate::FromPem(options.operator_ca_pem));
  impl->sessions = std::make_unique<SessionStore>(options.sessions, options.clock);
  impl->api = std::make_unique<JsonApi>(options.api);
  const Clock* clock = options.clock;
  impl->imports = std::make_unique<ImportJobs>(options.api,
                                               [clock] { return records::ChinaDay(clock->Now()); });

  const std::string cert_pem = options.cert_pem, key_pem = options.key_pem;
  const pki::Certificate client_ca = ca;
  impl->server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) -> bool {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    std::unique_ptr<BIO, int (*)(BIO*)> cb(BIO_new_mem_buf(cert_pem.data(), cert_pem.size()),
                                           BIO_free);
    std::unique_ptr<BIO, int (*)(BIO*)> kb(BIO_new_mem_buf(key_pem.data(), key_pem.size()),
                                           BIO_free);
    X509* cert = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
    const bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(&ctx, cert) == 1 &&
                    SSL_CTX_use_PrivateKey(&ctx, key) == 1 && SSL_CTX_check_private_key(&ctx) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) return false;
    // Ask for a client certificate from the operator CA, without making it
    // a condition of the handshake: a browser without one gets a page
    // saying so, and every request but the public assets is refused.
    X509_STORE_add_cert(SSL_CTX_get_cert_store(&ctx), client_ca.get());
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(client_ca.get())));
    SSL_CTX_set_client_CA_list(&ctx, names);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
    static const unsigned char kContext[] = "tongban-console";
    SSL_CTX_set_session_id_context(&ctx, kContext, sizeof(kContext) - 1);
    return true;
  });
  if (!impl->server->is_valid()) {
    return absl::InvalidArgumentError("console: the node's TLS certificate or key is unusable");
  }
  httplib::SSLServer& s = *impl->server;
  const int workers = options.workers;
  s.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
  const auto seconds = [](absl::Duration d) {
    return static_cast<time_t>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
  };
  s.set_read_timeout(seconds(options.read_timeout));
  s.set_write_timeout(seconds(options.read_timeout));
  s.set_keep_alive_timeout(seconds(options.keep_alive));
  s.set_keep_alive_max_count(1000);
  // Headers and body go out as separate writes: without TCP_NODELAY,
  // Nagle's algorithm and the client's delayed ACK add 40 ms to each answer.
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(ImportJobs::kMaxImportBytes + (1 << 20));
  impl->options = std::move(options);
  impl->Routes();
  const ConsoleOptions& o = impl->options;
  impl->port =
      o.port == 0 ? s.bind_to_any_port(o.host) : (s.bind_to_port(o.host, o.port) ? o.port : -1);
  if (impl->port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("console: cannot listen on ", o.host, ":", o.port, " (in use?)"));
  }
  httplib::SSLServer* raw = impl->server.get();
  TB_ASSIGN_OR_RETURN(impl->thread, StartThread("tb-console", [raw] { raw->listen_after_bind(); }));
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

int ConsoleServer::port() const { return impl_->port; }

void ConsoleServer::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->imports.reset();
}

}  // namespace tongban::console
