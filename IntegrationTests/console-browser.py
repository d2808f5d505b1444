#!/usr/bin/env python3
"""The console in a real browser: Debian's Chromium, driven by Selenium through chromium-driver,
against a running `cio-relay run` (SQLite warehouse, CIO_RELAY_ADMIN_TOKEN set) whose Track API
stand-in first refuses every request (400), so that events go to the dead letters, then accepts.

Checks, each through the pages as a person uses them: the console asks for the login; the
overview shows the queued events and both groups; the dead-letter list shows the refused events;
one letter shows its payload with emails masked; it is replayed through the confirmation form and
disappears from the list; once the worker has acted on it, the trace page finds the event with the
action applied. Saves a screenshot of each page (desktop, and the overview on a phone) under
WORKDIR/screenshots. Exits 0 when every check holds, 1 when one does not.
Usage: console-browser.py BINARY REDIS_PORT WORKDIR [--readme-images DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from relaytest import track
from relaytest.net import free_port
from relaytest.processes import Managed, wait_ready

TOKEN = "browser-test-admin-token-0123"
SECRET = "browser-test-signing-key"


class TrackStandIn:
    """Customer.io's Track API: 400 to everything while `refusing`, then 200; counts what it applied."""

    def __init__(self):
        self.refusing = True
        self.applied = 0

    def respond(self, request):
        if self.refusing:
            return track.Answer(400, b'{"errors":[{"reason":"refused by the test"}]}')
        self.applied += 1
        return track.Answer()


class Check:
    def __init__(self):
        self.failures = []

    def expect(self, condition, message):
        print(f"console-browser: {'ok  ' if condition else 'FAIL'} {message}", flush=True)
        if not condition:
            self.failures.append(message)


def status(binary, env):
    result = subprocess.run([binary, "status", "--json"], env=env, capture_output=True, text=True, timeout=30)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def wait_for(what, condition, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


class Browser:
    """Headless Chromium on the console, with the screenshots it takes."""

    def __init__(self, base, shots):
        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--disable-dev-shm-usage"):
            options.add_argument(flag)
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
        self.base, self.shots = base, shots

    def get(self, path):
        self.driver.get(self.base + path)

    def main_text(self):
        return self.driver.find_element(By.TAG_NAME, "main").text

    def follow(self, element, url_part):
        """Clicks and waits until the browser is on the page the click leads to: a click returns
        before the navigation it starts has finished."""
        before = self.driver.current_url
        element.click()
        WebDriverWait(self.driver, 30).until(lambda d: d.current_url != before and url_part in d.current_url
                                             and d.execute_script("return document.readyState") == "complete")

    def shot(self, name):
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        width = self.driver.get_window_size()["width"]
        self.driver.set_window_size(width, max(600, min(height + 40, 2400)))
        path = os.path.join(self.shots, name)
        self.driver.save_screenshot(path)
        return path


def log_in_and_read_the_overview(browser, check):
    driver = browser.driver
    browser.get("/console")
    check.expect(driver.current_url.endswith("/console/login"), "the console asks for the login")
    driver.find_element(By.NAME, "token").send_keys(TOKEN)
    browser.follow(driver.find_element(By.CSS_SELECTOR, "main form button"), "/console")
    check.expect(driver.current_url.endswith("/console"), "the token logs in")
    page = browser.main_text()
    check.expect("Events in the stream" in page and "actions" in page and "warehouse" in page, "the overview shows the stream and both groups")
    found = re.search(r"Events in the stream\s+([\d,]+)", page)
    stream = int(found.group(1).replace(",", "")) if found else -1
    check.expect(stream > 0, f"the overview counts the queued events ({stream})")
    return browser.shot("overview.png")


def replay_a_dead_letter(browser, check):
    """Opens the first dead letter and replays it; answers its event_id and the list's screenshot."""
    driver = browser.driver
    browser.get("/console/dead-letters")
    rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr td.id a")
    check.expect(len(rows) > 0 and "track_api_rejected" in driver.page_source, f"the dead-letter list shows the refused events ({len(rows)})")
    letters = browser.shot("dead-letters.png")
    letter_id = rows[0].text
    browser.follow(rows[0], "/console/dead-letters/show")
    source = driver.page_source
    check.expect("Payload" in source and "•••@" in source, "a dead letter shows its payload, emails masked")
    event_id = re.search(r'"event_id"\s*:\s*"([^"]+)"', driver.find_element(By.TAG_NAME, "pre").text).group(1)
    browser.shot("dead-letter.png")
    browser.follow(driver.find_element(By.LINK_TEXT, "Replay…"), "/console/dead-letters/confirm")
    check.expect("back on the events stream" in driver.page_source, "replaying asks for confirmation")
    browser.shot("confirm.png")
    browser.follow(driver.find_element(By.CSS_SELECTOR, "main form button"), "/console/dead-letters?done=")
    check.expect(f"Replayed {letter_id} as" in driver.page_source, "the replay is confirmed on the list")
    remaining = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "tbody tr td.id a")]
    check.expect(letter_id not in remaining, "the replayed letter is gone from the list")
    return event_id, letters


def trace_the_replayed_event(browser, check, event_id):
    def acted():
        browser.get("/console/trace?event_id=" + event_id)
        return "applied" in browser.main_text()
    try:
        wait_for("the worker to act on the replayed event", acted, seconds=60)
    except RuntimeError:
        pass
    text = browser.main_text()
    check.expect("applied" in text and "present, expires in" in text, f"the trace finds {event_id} acted on")
    return browser.shot("trace.png")


def fits_a_phone(browser, check):
    browser.driver.set_window_size(390, 844)
    browser.get("/console")
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    check.expect(width <= 390, f"the overview fits a phone's width ({width} px)")
    browser.shot("overview-phone.png")


def start_relay(binary, redis_port, work, track_port):
    """`cio-relay run` with a token, SQLite and the stand-in as its Track API; answers it and its env."""
    port, admin = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}",
        "CIO_RELAY_KEY_PREFIX": "browser",
        "CUSTOMERIO_WEBHOOK_SECRET": SECRET,
        "CUSTOMERIO_SITE_ID": "site", "CUSTOMERIO_TRACK_API_KEY": "key",
        "CUSTOMERIO_TRACK_URL": f"http://127.0.0.1:{track_port}",
        "WAREHOUSE_URL": "sqlite:" + os.path.join(work, "events.sqlite"),
        "CIO_RELAY_ADMIN_TOKEN": TOKEN,
        "CIO_RELAY_BIND": "127.0.0.1", "PORT": str(port), "ADMIN_PORT": str(admin), "LOG_LEVEL": "notice",
    }
    relay = Managed("run", [binary, "run"], env, os.path.join(work, "run.log"))
    relay.start()
    return relay, env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("redis_port")
    parser.add_argument("work")
    parser.add_argument("--readme-images", help="also copy two screenshots here (for the README)")
    arguments = parser.parse_args()
    shots = os.path.join(arguments.work, "screenshots")
    os.makedirs(shots, exist_ok=True)

    stand_in = TrackStandIn()
    track_server, track_port = track.serve(stand_in.respond)
    relay, env = start_relay(arguments.binary, arguments.redis_port, arguments.work, track_port)
    check = Check()
    browser = None
    try:
        wait_ready(relay)
        subprocess.run([arguments.binary, "send", "--url", f"http://127.0.0.1:{env['PORT']}/webhooks/customerio", "--secret", SECRET,
                        "--count", "40", "--run-id", "browser"], env=env, check=True, capture_output=True, timeout=120)
        wait_for("dead letters from the refused Track API calls", lambda: status(arguments.binary, env).get("dead_letters", 0) > 0)
        stand_in.refusing = False
        browser = Browser(f"http://127.0.0.1:{env['ADMIN_PORT']}", shots)
        overview = log_in_and_read_the_overview(browser, check)
        event_id, letters = replay_a_dead_letter(browser, check)
        trace = trace_the_replayed_event(browser, check, event_id)
        fits_a_phone(browser, check)
        if arguments.readme_images:
            os.makedirs(arguments.readme_images, exist_ok=True)
            for path, name in ((overview, "console-overview.png"), (trace, "console-trace.png"), (letters, "console-dead-letters.png")):
                shutil.copy(path, os.path.join(arguments.readme_images, name))
    except Exception as error:  # a step could not run: that is a failure too, with what it was
        check.expect(False, f"the run failed: {error!r}")
    finally:
        if browser:
            browser.driver.quit()
        relay.stop()
        track_server.shutdown()
    print(f"console-browser: screenshots in {shots}: {', '.join(sorted(os.listdir(shots)))}")
    sys.exit(1 if check.failures else 0)


if __name__ == "__main__":
    main()
