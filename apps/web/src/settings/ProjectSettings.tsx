export default function ProjectSettings(_props: Record<string, unknown>) {
  return <p>todo</p>
}
