// Progressive touches for lowkey's pages; every page works without this file.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    // "Use my location": fills the coordinates fields (rounded as lowkey keeps them).
    document.querySelectorAll("[data-locate]").forEach(function (button) {
      if (!("geolocation" in navigator)) return;
      button.hidden = false;
      var status = document.getElementById(button.getAttribute("data-status"));
      button.addEventListener("click", function () {
        status.textContent = "Asking your browser for your location…";
        navigator.geolocation.getCurrentPosition(function (pos) {
          document.getElementById("lat").value = pos.coords.latitude.toFixed(3);
          document.getElementById("lon").value = pos.coords.longitude.toFixed(3);
          status.textContent = "Done: your location is filled in below, rounded to about 100 m.";
        }, function () {
          status.textContent = "Your browser did not share a location. You can type a place or coordinates instead.";
        }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 });
      });
    });
    // The browser's own time zone, a better first guess than the events nearby.
    document.querySelectorAll("input[data-browser-zone]").forEach(function (input) {
      try { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* none */ }
    });
    // Copy buttons for links.
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      var source = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById(button.getAttribute("data-status"));
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.value || source.textContent).then(function () {
          status.textContent = "Copied.";
        }, function () {
          source.select && source.select();
          status.textContent = "Select the text and copy it.";
        });
      });
    });
  });
})();
