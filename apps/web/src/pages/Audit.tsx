export default function Audit(_props: Record<string, unknown>) {
  return <p>todo</p>
}
