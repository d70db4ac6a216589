// Applied before first paint so a dark-mode user never sees a white flash.
(() => {
  const theme = localStorage.getItem("webbin-theme");
  if (theme) document.documentElement.dataset.theme = theme;
})();
