#!/usr/bin/python3
"""The web console in a real browser (ctest console_browser).

A federation of separate tongband processes (tools/federation-setup.sh: the
national node 000000, the origin 620102 and the residence 440305), each with
its console on, and headless Chromium from Debian driven by Selenium, one
browser per operator, each holding only that operator's client certificate
in the NSS database under its own HOME (imported with pk12util) and picking
it without a dialog through the profile's auto-select-certificate setting.

The story (DOMAIN.md): the origin's clerk registers a person (whose name
holds <script>, shown as text) and, after a refused impossible date, the
departure; the residence's clerk registers the arrival, sees the history
arrive and sends an inquiry; the origin's clerk sees it due and answers;
the residence sees it answered; the residence's auditor sees every access,
the chain verified, and exports the person's access report. Also: a browser
without a certificate is refused; a wrong password is refused; a clerk has
no audit page and the API refuses it (403); a change without the CSRF token
is refused (403); an idle session expires (the national node's console has
a 4 s idle timeout); the administrator's and national platform's pages.

Screenshots of each main page go to OUT_DIR (build/console-screenshots).

Usage: browser_test.py BUILD_DIR OUT_DIR [SUITE]
Every wait has a deadline; the whole test is bounded by its ctest timeout.
"""
import base64
import hashlib
import hmac
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import (ElementClickInterceptedException,
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SRC = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(sys.argv[1]).resolve()
OUT = pathlib.Path(sys.argv[2]).resolve()
SUITE = sys.argv[3] if len(sys.argv) > 3 else "intl"
CTL = BUILD / "tongbanctl" / "tongbanctl"
TONGBAND = BUILD / "daemon" / "tongband"
SLOW = 4 if os.environ.get("TB_SANITIZE") == "1" else 1  # AddressSanitizer
WAIT = 30 * SLOW

ORIGIN, RESIDENCE, NATIONAL = "620102", "440305", "000000"
PERSON = "620102199003070026"
NAME = "王芳<script>window.tbXss=1</script>"

step_started = time.monotonic()


def log(what):
    print(f"[{time.monotonic() - step_started:6.1f}s] {what}", flush=True)


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def free_port_block(n):
    """A base port with n free ports after it (as tests/testutil/ports.h)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n >= 65535:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of loopback ports")


def totp(secret_b32, at=None):
    """RFC 6238: HMAC-SHA1, 30 s steps, 6 digits (admin/totp.h)."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)
    step = int((at or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


class Federation:
    def __init__(self, root):
        self.root = root
        self.procs = {}
        self.console = {}
        base = free_port_block(6)
        run("bash", SRC / "tools" / "federation-setup.sh", BUILD, root, SUITE, base,
            NATIONAL, ORIGIN, RESIDENCE)
        for code in (NATIONAL, ORIGIN, RESIDENCE):
            ops = root / code / "operators"
            # Operators with TOTP enrolled: the console asks for it once.
            for name, role in (("wang.clerk", "clerk"), ("li.admin", "administrator"),
                               ("zhao.audit", "auditor")):
                run(CTL, "operator", "add", "--dir", ops, "--name", name, "--role", role,
                    "--suite", SUITE, "--days", "30", "--totp")
            idle = "4s" if code == NATIONAL else "15m"
            with open(root / code / "tongband.conf", "a") as f:
                f.write(f'\n[console]\nlisten = "127.0.0.1:0"\nassets = "{SRC}/console/assets"\n'
                        f'session_idle = "{idle}"\n')
        for code in (NATIONAL, ORIGIN, RESIDENCE):
            err = open(root / code / "tongband.log", "w")
            self.procs[code] = subprocess.Popen([str(TONGBAND), "--config", str(root / code / "tongband.conf")],
                                                stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + WAIT
        for code in (NATIONAL, ORIGIN, RESIDENCE):
            while code not in self.console:
                text = (root / code / "tongband.log").read_text()
                m = re.search(r"console listening port=(\d+)", text)
                if m:
                    self.console[code] = int(m.group(1))
                    break
                if self.procs[code].poll() is not None:
                    raise RuntimeError(f"tongband {code} exited:\n{text}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tongband {code}: no console after {WAIT}s:\n{text}")
                time.sleep(0.05)

    def url(self, code):
        return f"https://127.0.0.1:{self.console[code]}/"

    def operator(self, code, name):
        ops = self.root / code / "operators"
        password = (ops / f"{name}.password").read_text().strip()
        uri = (ops / f"{name}.totp").read_text().strip()
        secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
        return password, secret

    def stop(self):
        clean = True
        for code, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for code, p in self.procs.items():
            try:
                if p.wait(timeout=30 * SLOW) != 0:
                    clean = False
                    log(f"tongband {code} exited with {p.returncode}")
            except subprocess.TimeoutExpired:
                p.kill()
                clean = False
        return clean


class Browser:
    """Headless Chromium holding one operator's certificate (or none)."""

    def __init__(self, fed, root, code, name=None):
        self.fed, self.code = fed, code
        home = root / f"home-{code}-{name or 'nocert'}"
        nss = home / ".pki" / "nssdb"
        nss.mkdir(parents=True)
        run("certutil", "-N", "-d", f"sql:{nss}", "--empty-password")
        run("certutil", "-A", "-n", "tongban-federation-ca", "-t", "C,,", "-i",
            fed.root / code / "tls" / "ca.crt", "-d", f"sql:{nss}")
        profile = home / "profile"
        (profile / "Default").mkdir(parents=True)
        self.downloads = home / "downloads"
        self.downloads.mkdir()
        prefs = {"download": {"default_directory": str(self.downloads), "prompt_for_download": False}}
        if name:
            ops = fed.root / code / "operators"
            p12 = home / "operator.p12"
            run("openssl", "pkcs12", "-export", "-in", ops / f"{name}.crt", "-inkey", ops / f"{name}.key",
                "-out", p12, "-passout", "pass:")
            run("pk12util", "-i", p12, "-d", f"sql:{nss}", "-W", "")
            issuer = f"Tongban operator CA of {code}"
            origin = f"https://127.0.0.1:{fed.console[code]},*"
            prefs["profile"] = {"content_settings": {"exceptions": {"auto_select_certificate": {
                origin: {"setting": {"filters": [{"ISSUER": {"CN": issuer}}]}}}}}}
        (profile / "Default" / "Preferences").write_text(json.dumps(prefs))
        o = webdriver.ChromeOptions()
        o.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={profile}"):
            o.add_argument(a)
        env = dict(os.environ, HOME=str(home))
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver", env=env), options=o)
        self.d.set_page_load_timeout(WAIT)
        self.d.set_script_timeout(WAIT)

    def open(self):
        self.d.get(self.fed.url(self.code))

    def wait(self, cond, what, timeout=None):
        try:
            return WebDriverWait(self.d, timeout or WAIT, poll_frequency=0.1).until(lambda d: cond(d))
        except TimeoutException:
            self.shot(f"failed-{self.code}")
            raise AssertionError(f"{self.code}: timed out waiting for {what}")

    def find(self, css):
        return self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, css), css)[0]

    def click(self, css):
        # A table the page re-renders (the fleet view refreshes itself) can
        # replace the element between finding and clicking it: find it again.
        for attempt in range(5):
            e = self.find(css)
            try:
                self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", e)
                try:
                    e.click()
                except ElementClickInterceptedException:
                    # Below the fold of a page whose charts still resize: click it
                    # as the page's own script would.
                    self.d.execute_script("arguments[0].click()", e)
                return
            except StaleElementReferenceException:
                if attempt == 4:
                    raise
                time.sleep(0.1)

    def text(self, css):
        return self.find(css).text

    def shot(self, name):
        OUT.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(OUT / f"{name}.png"))

    def sign_in(self, password, secret):
        self.open()
        self.find("#password").send_keys(password)
        if secret:
            # A code not used before by this operator (no replay): wait for a
            # fresh 30 s step if the current one was used.
            self.find("#totp").send_keys(totp(secret))
        self.click("#login-submit")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#menu .nav-link"), "the menu after sign-in")

    def nav(self, page):
        self.click(f"#nav-{page}")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, f"#nav-{page}.active"), f"page {page}")

    def api(self, method, body, csrf=True):
        """Calls the JSON API from the page, as its script does; returns (status, json)."""
        return self.d.execute_async_script("""
          const [method, body, csrf, done] = arguments;
          const s = await fetch('/api/session', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'});
          const token = s.ok ? (await s.json()).csrf : '';
          const h = {'Content-Type': 'application/json'};
          if (csrf) h['X-CSRF-Token'] = token;
          const r = await fetch('/api/call/' + method, {method: 'POST', headers: h, body: JSON.stringify(body)});
          done([r.status, await r.json()]);""", method, body, csrf)

    def form(self, name, person, values):
        self.nav("write")
        self.click(f'#form-list [data-form="{name}"]')
        self.find("#write-form")
        self.find("#f-person").send_keys(person)
        for field, value in values.items():
            e = self.find(f'[name="{field}"]')
            if e.tag_name == "select":
                self.d.execute_script("arguments[0].value = arguments[1]", e, value)
            elif e.get_attribute("type") == "checkbox":
                if bool(value) != e.is_selected():
                    e.click()
            else:
                e.clear()
                e.send_keys(value)
        self.click("#write-submit")

    def written(self):
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#write-done, #write-result #error"), "the write's answer")
        errors = self.d.find_elements(By.CSS_SELECTOR, "#write-result #error")
        assert not errors, f"write refused: {errors[0].text}"

    def person_page(self, person, reason):
        self.nav("search")
        self.find("#search-id #f-person").send_keys(person)
        self.find("#search-id #f-reason").send_keys(reason)
        self.click("#search-id-submit")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#records, #error"), "the person page")

    def quit(self):
        self.d.quit()


def main():
    root = pathlib.Path(tempfile.mkdtemp(prefix="tongban-console-"))
    fed = None
    browsers = []
    ok = False
    try:
        fed = Federation(root)
        log(f"federation up: consoles {fed.console}")

        def browser(code, name=None):
            b = Browser(fed, root, code, name)
            browsers.append(b)
            return b

        # A browser without a certificate is refused, with a page saying why.
        nocert = browser(ORIGIN)
        nocert.open()
        assert "需要操作员证书" in nocert.text("#nocert"), "no refusal page without a certificate"
        nocert.shot("nocert")
        r = nocert.d.execute_async_script("""
          const done = arguments[0];
          fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'})
            .then((r) => done(r.status));""")
        assert r == 403, f"login without a certificate answered {r}"
        nocert.quit()
        browsers.remove(nocert)
        log("no certificate: refused")

        # The origin's clerk: a wrong password is refused; then signed in.
        origin = browser(ORIGIN, "wang.clerk")
        password, secret = fed.operator(ORIGIN, "wang.clerk")
        origin.open()
        origin.find("#password").send_keys("not the password")
        origin.find("#totp").send_keys(totp(secret))
        origin.click("#login-submit")
        msg = origin.text("#login-result #error")
        assert "验证失败" in msg, f"wrong password: {msg}"
        origin.shot("login-refused")
        assert not origin.d.find_elements(By.CSS_SELECTOR, "#menu .nav-link")
        log("wrong password: refused")
        origin.sign_in(password, secret)
        pages = [e.get_attribute("data-page") for e in origin.d.find_elements(By.CSS_SELECTOR, "#menu .nav-link")]
        assert "audit" not in pages and "report" not in pages, f"a clerk's menu shows {pages}"
        assert pages[0] == "due", pages
        status, body = origin.api("Audit", {})
        assert status == 403 and body["code"] == "PERMISSION_DENIED", (status, body)
        status, body = origin.api("Write", {"person": PERSON}, csrf=False)
        assert status == 403 and "CSRF" in body["message"], (status, body)
        log("clerk: no audit page, audit API 403, change without CSRF token 403")

        # 1. The origin registers the person; an impossible date is refused
        # beside its field and nothing is stored.
        origin.form("person_basics", PERSON, {
            "person_basics.name": NAME, "person_basics.sex": "SEX_FEMALE",
            "person_basics.birth_date": "1990-03-07", "person_basics.hukou_region": ORIGIN,
            "person_basics.hukou_address": "兰州市城关区"})
        origin.written()
        origin.form("outflow", PERSON, {
            "outflow.destination_county": RESIDENCE, "outflow.left_on": "2026-02-30",
            "outflow.reason": "务工"})
        error = origin.wait(lambda d: d.find_element(By.CSS_SELECTOR, '[data-error-for="outflow.left_on"]').text,
                            "the date's error beside its field")
        assert "2026-02-30" in error, error
        origin.shot("clerk-form-error")
        origin.person_page(PERSON, "登记后核对")
        kinds = origin.text("#records")
        assert "流出登记" not in kinds, "the refused departure was stored"
        name = origin.text("#person-name")
        assert name == NAME, f"the name shows as {name!r}"
        assert origin.d.execute_script("return window.tbXss === undefined"), "a name's <script> ran"
        log("impossible date refused beside the field, nothing stored; <script> shown as text")
        # A citizen ID with a wrong check character: the finding is shown in
        # words, and the write goes through once the clerk confirms it.
        origin.form("person_basics", PERSON[:-1] + "7", {
            "person_basics.name": "李四", "person_basics.sex": "SEX_FEMALE",
            "person_basics.birth_date": "1990-03-07", "person_basics.hukou_region": ORIGIN})
        finding = origin.text("#write-result #error")
        assert "校验码错误" in finding, finding
        origin.click('[name="confirm_findings"]')
        origin.click("#write-submit")
        origin.find("#write-done")
        assert "校验码错误" in origin.text("#write-result"), origin.text("#write-result")
        log("ID findings shown in words and confirmed")
        origin.form("outflow", PERSON, {
            "outflow.destination_county": RESIDENCE, "outflow.left_on": "2026-03-01",
            "outflow.reason": "务工"})
        origin.written()
        log("origin: person and departure registered")

        # 2. The residence registers the arrival and sees the history arrive.
        residence = browser(RESIDENCE, "wang.clerk")
        residence.sign_in(*fed.operator(RESIDENCE, "wang.clerk"))
        residence.form("inflow", PERSON, {
            "inflow.origin_county": ORIGIN, "inflow.arrived_on": "2026-03-02",
            "inflow.registered_on": "2026-03-10", "inflow.address": "深圳市南山区"})
        residence.written()
        deadline = time.monotonic() + WAIT
        while True:
            residence.person_page(PERSON, "流入登记：核对户籍地记录")
            text = residence.text("#records") if residence.d.find_elements(By.ID, "records") else ""
            if "流出登记" in text and "个人基本信息" in text:
                break
            assert time.monotonic() < deadline, "the origin's history did not reach the residence"
            time.sleep(0.3)
        assert residence.text("#person-name") == NAME
        residence.shot("clerk-person")
        log("residence: arrival registered, history arrived")

        # 3. The residence sends an inquiry.
        residence.form("inquiry", PERSON, {
            "inquiry.to_county": ORIGIN, "inquiry.type": "INQUIRY_TYPE_NORMAL",
            "inquiry.question": "请核实该人员婚育情况"})
        residence.written()
        log("residence: inquiry sent")

        # 4. The origin sees it due and answers.
        deadline = time.monotonic() + WAIT
        while True:
            origin.nav("search")
            origin.nav("due")
            origin.find("#inquiries-due")
            if origin.d.find_elements(By.CSS_SELECTOR, "#inquiries-due .reply-inquiry"):
                break
            assert time.monotonic() < deadline, "the inquiry did not reach the origin"
            time.sleep(0.3)
        assert int(origin.text("#count-inquiries-open")) >= 1
        origin.shot("clerk-due")
        origin.click("#inquiries-due .reply-inquiry")
        origin.find("#write-form")
        origin.find('[name="inquiry_reply.answer"]').send_keys("已核实：已婚，证明有效")
        origin.click('[name="inquiry_reply.matched"]')
        origin.click("#write-submit")
        origin.written()
        log("origin: inquiry answered")

        # 5. The residence sees it answered.
        deadline = time.monotonic() + WAIT
        while True:
            residence.nav("search")
            residence.nav("due")
            states = [e.get_attribute("data-state") for e in
                      residence.d.find_elements(By.CSS_SELECTOR, "#inquiries-all .state")]
            if "answered" in states:
                break
            assert time.monotonic() < deadline, f"the answer did not reach the residence: {states}"
            time.sleep(0.3)
        assert "已反馈" in residence.text("#inquiries-all")
        residence.shot("clerk-due-answered")
        log("residence: inquiry answered")

        # 6. The residence's auditor sees every access and exports the
        # person's access report.
        auditor = browser(RESIDENCE, "zhao.audit")
        auditor.sign_in(*fed.operator(RESIDENCE, "zhao.audit"))
        assert auditor.find("#page-title").text == "审计记录"
        auditor.find("#chain-verified")
        assert "已验证" in auditor.text("#chain-verified")
        trail = auditor.text("#audit")
        for action in ("写入记录", "查阅档案"):
            assert action in trail, f"{action} missing from the trail"
        auditor.shot("auditor-audit")
        auditor.nav("report")
        auditor.find("#report-form #f-person").send_keys(PERSON)
        auditor.find("#report-form #f-reason").send_keys("本人依《个人信息保护法》第四十五条申请查阅")
        auditor.click("#report-submit")
        summary = auditor.text("#report-summary")
        report = auditor.text("#report")
        assert "wang.clerk" in report and "写入记录" in report and "查阅档案" in report, report
        auditor.shot("auditor-report")
        auditor.click("#report-csv")
        csv = auditor.wait(lambda d: [p for p in auditor.downloads.glob("*.csv")], "the report's CSV")[0]
        auditor.wait(lambda d: csv.stat().st_size > 0 and not list(auditor.downloads.glob("*.crdownload")), "the download")
        rows = csv.read_text(encoding="utf-8-sig").splitlines()
        assert rows[0].startswith("seq,") and len(rows) > 3, rows[:3]
        assert any("record.write" in r and "wang.clerk" in r for r in rows), rows
        log(f"auditor: trail verified, access report {summary!r}, CSV {len(rows) - 1} rows")

        # The administrator's pages.
        admin = browser(ORIGIN, "li.admin")
        admin.sign_in(*fed.operator(ORIGIN, "li.admin"))
        pages = [e.get_attribute("data-page") for e in admin.d.find_elements(By.CSS_SELECTOR, "#menu .nav-link")]
        assert "search" not in pages and "status" in pages and "fleet" not in pages, pages
        assert "620102" in admin.text("#status")
        admin.shot("admin-status")
        admin.nav("peers")
        assert "440305" in admin.text("#peers")
        admin.shot("admin-peers")
        admin.nav("charts")
        admin.find("#chart-events")
        admin.shot("admin-charts")
        status, body = admin.api("GetPerson", {"person": PERSON, "reason": "x"})
        assert status == 403, (status, body)
        log("administrator: status, peers, charts; personal data refused")

        # The national platform: every county, statistics; then the idle
        # session expires (4 s idle on this node).
        national = browser(NATIONAL, "li.admin")
        national.sign_in(*fed.operator(NATIONAL, "li.admin"))
        national.nav("fleet")
        fleet = national.text("#fleet")
        assert ORIGIN in fleet and RESIDENCE in fleet, fleet
        # Issue 21: each county's software and roster version and the days
        # its certificate has left.
        assert "软件版本" in fleet and "名册版本" in fleet and "剩" in fleet, fleet
        national.click('#fleet th[data-sort="FLEET_SORT_LOG_SIZE"]')
        national.wait(lambda d: d.find_elements(By.ID, "fleet"), "the sorted fleet")
        national.click('#fleet th[data-sort="FLEET_SORT_CERT_EXPIRY"]')
        national.wait(lambda d: d.find_elements(By.ID, "fleet"), "the fleet by certificate expiry")
        national.shot("national-fleet")
        national.nav("stats")
        national.find("#chart-flows")
        national.shot("national-stats")
        national.find("#ledger-year").clear()
        national.find("#ledger-year").send_keys("2026")
        national.click("#ledger-download")
        ledger = national.wait(lambda d: [p for p in national.downloads.glob("ledger-*.csv")], "the ledger CSV")[0]
        national.wait(lambda d: ledger.stat().st_size > 0 and not list(national.downloads.glob("*.crdownload")), "the ledger download")
        assert "全国" in ledger.read_text(encoding="utf-8-sig")
        # Idle: nothing happens for longer than the idle timeout (the
        # behaviour under test is time passing, so this waits it out).
        time.sleep(5)
        national.click("#nav-status")
        msg = national.text("#login-message")
        assert "会话已过期" in msg, msg
        national.shot("session-expired")
        log("national: fleet, statistics, ledger; idle session expired")

        # English as the switch.
        origin.click("#lang")
        origin.wait(lambda d: d.find_element(By.ID, "lang").text == "中文", "English")
        origin.nav("due")
        origin.find("#inquiries-all")
        assert "All inquiries" in origin.text("#main"), origin.text("#main")
        origin.shot("clerk-due-english")
        ok = True
    finally:
        for b in browsers:
            try:
                b.quit()
            except Exception:  # noqa: BLE001 - the browser may be gone already
                pass
        clean = fed.stop() if fed else True
        if not ok and fed:
            for code in fed.procs:
                print(f"--- tongband {code} log (last lines)")
                print("\n".join((root / code / "tongband.log").read_text().splitlines()[-15:]))
        shutil.rmtree(root, ignore_errors=True)
    if not clean:
        print("a tongband did not stop cleanly")
        sys.exit(1)
    print(f"console browser test: passed; screenshots in {OUT}")


if __name__ == "__main__":
    main()
