// Small inline icons: no icon font or emoji to depend on (a kiosk or a
// headless browser may have neither). Simple shapes on a 16×16 grid.
const svg = (children, label) => (
  <svg class="ico" viewBox="0 0 16 16" width="16" height="16" aria-hidden={label ? undefined : "true"} role={label ? "img" : undefined} aria-label={label} fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round">
    {children}
  </svg>
);

export const Bell = () => svg(<><path d="M4 11V7a4 4 0 0 1 8 0v4l1 1.5H3L4 11z" /><path d="M6.5 14h3" /></>);
export const Speaker = () => svg(<><path d="M2 6h3l4-3v10l-4-3H2z" /><path d="M11.5 5.5a3.5 3.5 0 0 1 0 5" /></>);
export const Mic = () => svg(<><rect x="6" y="1.5" width="4" height="8" rx="2" /><path d="M3.5 8a4.5 4.5 0 0 0 9 0M8 12.5V15" /></>);
export const Pad = () =>
  svg(<>{[3, 8, 13].flatMap((x) => [3, 8, 13].map((y) => <circle key={`${x}${y}`} cx={x} cy={y} r="1" fill="currentColor" stroke="none" />))}</>);
export const Chat = () => svg(<path d="M2 3h12v8H7l-3 3v-3H2z" />);
export const WhatsApp = () => svg(<><path d="M3 13l1-3a5.5 5.5 0 1 1 2 2z" /><path d="M6 6.5c.5 2 1.5 3 3.5 3.5" /></>);
export const Swap = () => svg(<path d="M2 5h10l-2-2M14 11H4l2 2" />);
export const Mail = () => svg(<><rect x="2" y="3.5" width="12" height="9" rx="1" /><path d="M2 4.5l6 4.5 6-4.5" /></>);
export const Phone = () => svg(<path d="M4 2l2 3-1.5 1.5a8 8 0 0 0 5 5L11 10l3 2-1 2.5C7 14 2 9 1.5 3z" />);

export function ChannelIcon({ channel }) {
  const I = { chat: Chat, whatsapp: WhatsApp, openchannel: Swap, email: Mail, sms: Mail, voice: Phone }[channel] || Chat;
  return (
    <span class={`chan chan-${channel}`} title={channel}>
      <I />
    </span>
  );
}
