export default function Admin(_props: Record<string, unknown>) {
  return <p>todo</p>
}
