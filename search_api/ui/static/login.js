// The sign-in page: posts the name and password, then goes where the user was heading.
import { t } from "./shell.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const response = await fetch("/ui/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      name: document.getElementById("login-name").value,
      password: document.getElementById("login-password").value,
    }),
  });
  if (response.ok) {
    location.assign(form.dataset.next);
    return;
  }
  let detail = `HTTP ${response.status}`;
  try {
    detail = (await response.json()).detail;
  } catch {}
  error.textContent = t("auth.failed", { detail });
  error.hidden = false;
});
