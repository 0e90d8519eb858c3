// Progressive improvements only: every page works without this file.
// Buttons marked data-confirm ask before their form is posted.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const text = button && button.dataset ? button.dataset.confirm : undefined;
  if (text && !window.confirm(text)) {
    event.preventDefault();
  }
});
