/* Tell the portal which time zone this browser is in, so that pages show local times.
   The server reads the `tz` cookie on the next request (portal/timezones.py). */
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) {
    return;
  }
  var current = document.documentElement.getAttribute("data-time-zone");
  var cookie = document.cookie.split("; ").filter(function (part) {
    return part.indexOf("tz=") === 0;
  })[0];
  if (current === zone && cookie === "tz=" + zone) {
    return;
  }
  document.cookie =
    /* IANA names (letters, digits, "/", "_", "-", "+") need no escaping in a cookie. */
    "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" +
    (window.location.protocol === "https:" ? "; Secure" : "");
})();
