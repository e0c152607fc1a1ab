(function () {
  try {
    var saved = localStorage.getItem("tipline.theme");
    var dark = saved === "dark" || (saved !== "light" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    document.documentElement.classList.toggle("dark", dark);
  } catch (e) {
    /* storage unavailable: follow the default (light) */
  }
})();
