// The widget's CSS, inside its shadow root: the host page's rules do not
// reach it and its rules do not reach the page.
export const css = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.launcher { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%;
  border: 0; background: #1f5fbf; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25);
  z-index: 2147483000; display: grid; place-items: center; }
.launcher svg { width: 26px; height: 26px; }
button:focus-visible, textarea:focus-visible, a:focus-visible, .log:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.panel { position: fixed; right: 20px; bottom: 88px; width: 360px; height: min(560px, calc(100vh - 110px));
  background: #fff; color: #1b1b1b; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.28);
  display: flex; flex-direction: column; overflow: hidden; z-index: 2147483000; font-size: 15px; line-height: 1.4; }
.panel[hidden] { display: none; }
header { display: flex; align-items: center; justify-content: space-between; padding: 12px 14px; background: #1f5fbf; color: #fff; }
h2 { margin: 0; font-size: 16px; font-weight: 600; }
.status { margin: 2px 0 0; font-size: 12.5px; opacity: .9; }
.close { background: transparent; border: 0; color: #fff; font-size: 26px; line-height: 1; cursor: pointer; padding: 4px 8px; }
.log { list-style: none; margin: 0; padding: 12px; flex: 1; overflow-y: auto; background: #f4f6f9; display: flex; flex-direction: column; gap: 8px; }
.log li { max-width: 82%; display: flex; flex-direction: column; }
.log .body { margin: 0; padding: 8px 11px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.me { align-self: flex-end; align-items: flex-end; }
.me .body { background: #1f5fbf; color: #fff; border-bottom-right-radius: 4px; }
.agent { align-self: flex-start; }
.agent .body { background: #fff; border: 1px solid #dde2ea; border-bottom-left-radius: 4px; }
.who { font-size: 12px; color: #555; margin: 0 0 2px 4px; }
.system { align-self: center; max-width: 92%; text-align: center; }
.system .body { background: transparent; color: #555; font-size: 13px; font-style: italic; padding: 2px 6px; }
.greeting .body { font-style: normal; color: #333; }
.tick { font-size: 11px; color: #666; margin: 2px 4px 0 0; }
.tick.read { color: #1f5fbf; }
.tick.not-sent { color: #b00020; }
.file { color: inherit; text-decoration: underline; word-break: break-all; }
.typing { margin: 0; padding: 0 14px; min-height: 18px; font-size: 12.5px; color: #555; background: #f4f6f9; }
.error { margin: 0; padding: 0 14px; font-size: 13px; color: #b00020; }
.error:empty { display: none; }
.emojis { display: flex; flex-wrap: wrap; gap: 2px; padding: 6px 10px; border-top: 1px solid #e3e6eb; }
.emojis[hidden] { display: none; }
.emojis button { font-size: 20px; background: none; border: 0; cursor: pointer; padding: 4px; border-radius: 6px; }
.compose { display: flex; align-items: flex-end; gap: 6px; padding: 10px; border-top: 1px solid #e3e6eb; }
textarea { flex: 1; resize: none; border: 1px solid #c9cfd8; border-radius: 8px; padding: 8px 10px; font-size: 15px; max-height: 120px; color: #1b1b1b; background: #fff; }
.icon { background: none; border: 0; cursor: pointer; padding: 6px 4px; color: #555; width: 34px; height: 36px; }
.icon svg { width: 22px; height: 22px; display: block; margin: auto; }
.send { background: #1f5fbf; color: #fff; border: 0; border-radius: 8px; padding: 9px 14px; font-size: 15px; cursor: pointer; }
.file[type=file] { display: none; }
@media (max-width: 480px) {
  .panel { right: 0; bottom: 0; width: 100vw; height: 100%; border-radius: 0; }
  .panel:not([hidden]) ~ .launcher { display: none; }
}
`;
