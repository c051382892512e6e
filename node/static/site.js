/* Small improvements where JavaScript runs; every page works without it. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    if (!("geolocation" in navigator)) { return; }
    document.querySelectorAll("input[data-locate]").forEach(function (input) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = input.getAttribute("data-locate");
      button.addEventListener("click", function () {
        navigator.geolocation.getCurrentPosition(function (pos) {
          input.value = pos.coords.latitude.toFixed(4) + ", " + pos.coords.longitude.toFixed(4);
        });
      });
      input.insertAdjacentElement("afterend", button);
    });
  });
})();
