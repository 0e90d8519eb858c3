// Progressive improvements only: every page works without this file.
// Buttons marked data-confirm ask before their form is posted.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const text = button && button.dataset ? button.dataset.confirm : undefined;
  if (text && !window.confirm(text)) {
    event.preventDefault();
  }
});

// Buttons marked data-copy="<id>" copy that field's text (a DNS record, a token's secret).
document.addEventListener("click", (event) => {
  const button = event.target.closest ? event.target.closest("button[data-copy]") : null;
  const field = button ? document.getElementById(button.dataset.copy) : null;
  if (!field) return;
  field.select();
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(() => { button.textContent = "Copied"; }, () => {});
  }
});
