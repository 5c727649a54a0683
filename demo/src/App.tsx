/** Logged in (the `user` cookie) or not. */
import { createResource, createSignal, Show } from "solid-js";
import type { Me } from "../shared.js";
import { getMe, login, logout } from "./api.js";
import { Chat } from "./Chat.jsx";

export function App() {
  const [me, { mutate }] = createResource(getMe);
  return (
    <Show when={!me.loading} fallback={<p class="center">Loading…</p>}>
      <Show when={me()} fallback={<Login onLogin={mutate} />}>
        {(current) => (
          <Chat
            me={current()}
            onMe={mutate}
            onLogout={() => void logout().then(() => mutate(undefined))}
          />
        )}
      </Show>
    </Show>
  );
}

function Login(props: { onLogin: (me: Me) => void }) {
  const [error, setError] = createSignal("");
  const submit = (event: SubmitEvent) => {
    event.preventDefault();
    const name = new FormData(event.currentTarget as HTMLFormElement).get("name");
    login(String(name ?? "")).then(props.onLogin, (e: Error) => setError(e.message));
  };
  return (
    <form class="login center" onSubmit={submit}>
      <h1>sse-notif rooms</h1>
      <input name="name" placeholder="Your name" autocomplete="username" autofocus />
      <button type="submit">Enter</button>
      <p class="error">{error()}</p>
    </form>
  );
}
