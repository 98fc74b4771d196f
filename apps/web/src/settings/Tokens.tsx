export default function Tokens(_props: Record<string, unknown>) {
  return <p>todo</p>
}
