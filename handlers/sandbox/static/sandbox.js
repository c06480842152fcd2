// The sandbox page: poll the panels, swap what changed, post what the person does.
(function () {
  const state = window.SANDBOX;
  const shown = new Map();
  const $ = (selector) => document.querySelector(selector);
  // Serving several hospitals, every request of the page says which one it shows.
  const ui = (path) => state.hospital ? `${path}?hospital=${encodeURIComponent(state.hospital)}` : path;

  async function post(url, body, isForm) {
    const options = {method: "POST", body: isForm ? body : JSON.stringify(body)};
    if (!isForm) options.headers = {"Content-Type": "application/json"};
    const response = await fetch(ui(url), options);
    let answer = {};
    try { answer = await response.json(); } catch (e) { /* empty body */ }
    if (!response.ok) alert(answer.error || ("HTTP " + response.status));
    refresh();
    return {ok: response.ok, answer: answer};
  }

  // Only what changed: the page sends the digests of the panels it shows (and the state's ETag)
  // and gets the other panels, or a 304 with no body when nothing changed.
  let etag = "", generation = 0;
  function forget() { shown.clear(); etag = ""; generation += 1; }

  async function refresh() {
    const query = new URLSearchParams({patient: state.patient, conversation: state.conversation || "",
                                       known: Array.from(shown.values()).join(",")});
    if (state.hospital) query.set("hospital", state.hospital);
    const asked = generation;
    let response, data;
    try {
      response = await fetch("/sandbox/ui/state?" + query,
                             {cache: "no-store", headers: etag ? {"If-None-Match": etag} : {}});
      if (response.status !== 200) return;
      data = await response.json();
    } catch (e) { return; }
    if (asked !== generation) return;  // another patient was chosen meanwhile
    etag = response.headers.get("ETag") || "";
    if ("conversation" in data.panels) state.conversation = data.panels.conversation;
    for (const [name, html] of Object.entries(data.panels)) {
      shown.set(name, data.digests[name]);
      const element = document.querySelector(`[data-panel="${name}"]`);
      if (!element) continue;
      element.innerHTML = html;
      if (name === "chat" || name === "desk-messages") element.scrollTop = element.scrollHeight;
    }
  }

  function act(action) {
    // A tap on a quick reply or a Flex/template button, as LINE sends it.
    const url = `/sandbox/ui/patients/${state.patient}/messages`;
    if (action.type === "message") return post(url, {text: action.text});
    if (action.type === "postback") return post(url, {postback: action.data, displayText: action.displayText || action.text || null});
    if (action.type === "uri" && action.uri.startsWith("tel:"))
      return alert(`LINE จะเปิดแอปโทรศัพท์ให้โทร ${action.uri.slice(4)} (the phone would dial it)`);
    if (action.type === "uri") return window.open(action.uri, "_blank");
    alert(`แซนด์บ็อกซ์ยังไม่จำลองปุ่มแบบ ${action.type} (not simulated)`);
  }

  function showMenu(open) {
    // LINE: the rich menu is open when the chat opens; the keyboard closes it; its bar opens it again.
    const menu = $("[data-testid=richmenu]");
    menu.classList.toggle("open", open);
    $("[data-testid=richmenu-toggle]").setAttribute("aria-expanded", String(open));
  }

  document.addEventListener("click", (event) => {
    const hospital = event.target.closest("[data-hospital]");
    if (hospital) {  // another hospital: the whole page is its (its LINE chat, desk, contact, HIS)
      event.preventDefault();
      location.href = "/?" + new URLSearchParams({hospital: hospital.dataset.hospital, patient: state.patient});
      return;
    }
    const tab = event.target.closest("[data-patient]");
    if (tab) {
      state.patient = tab.dataset.patient; state.conversation = "";
      document.querySelectorAll(".patient-tab").forEach((t) => t.classList.toggle("selected", t === tab));
      forget(); return refresh();
    }
    if (event.target.closest("[data-testid=richmenu-toggle]"))
      return showMenu(!$("[data-testid=richmenu]").classList.contains("open"));
    const conversation = event.target.closest("[data-conversation]");
    if (conversation) { state.conversation = conversation.dataset.conversation; forget(); return refresh(); }
    const patientEvent = event.target.closest("[data-event]");  // follow, sticker, image
    if (patientEvent) return post(`/sandbox/ui/patients/${state.patient}/events`, {type: patientEvent.dataset.event});
    const actionable = event.target.closest("[data-action]");
    if (actionable) { event.preventDefault(); return act(JSON.parse(actionable.dataset.action)); }
    if (event.target.closest("[data-testid=agent-resolve]") && state.conversation) {
      return post(`/sandbox/ui/desk/${state.conversation}/resolve`, {});
    }
  });

  $("[data-testid=patient-input]").addEventListener("focus", () => showMenu(false));

  $("[data-form=patient]").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("[data-testid=patient-input]");
    if (!input.value.trim()) return;
    post(`/sandbox/ui/patients/${state.patient}/messages`, {text: input.value});
    input.value = "";
  });

  $("[data-form=agent]").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("[data-testid=agent-input]"), note = $("[data-testid=agent-private]");
    if (!input.value.trim() || !state.conversation) return;
    post(`/sandbox/ui/desk/${state.conversation}/messages`, {content: input.value, private: note.checked});
    input.value = ""; note.checked = false;
  });

  $("[data-form=his-upload]").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("[data-testid=his-file]").files[0];
    if (!file) return alert("เลือกไฟล์ CSV ก่อน (ไฟล์ตัวอย่างอยู่ข้างปุ่ม · choose a CSV file)");
    const form = new FormData(); form.append("file", file);
    const {ok} = await post("/sandbox/ui/his/upload", form, true);
    if (ok) $("[data-testid=his-result]").textContent = "";  // the panel's summary follows the rows' statuses
  });

  $("[data-form=his-api]").addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch(ui("/sandbox/ui/his/api"), {method: "POST", body: $("[data-testid=his-json]").value,
                                                         headers: {"Content-Type": "application/json"}});
    const answer = await response.json();
    $("[data-testid=his-result]").textContent = `HIS API ตอบ ${answer.status}`;
    refresh();
  });

  refresh();
  setInterval(refresh, 700);
})();
