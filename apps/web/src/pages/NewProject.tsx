export default function NewProject(_props: Record<string, unknown>) {
  return <p>todo</p>
}
