import { randomUUID } from 'node:crypto';

/** MLflow run ids: 32 lowercase hex characters. */
export const newRunId = (): string => randomUUID().replace(/-/g, '');

const ADJECTIVES = ['amber', 'bold', 'brisk', 'calm', 'clever', 'crisp', 'dapper', 'eager', 'gentle', 'keen', 'lucid', 'nimble', 'quiet', 'rustic', 'sunny', 'swift', 'tidy', 'vivid', 'wise', 'zesty'];
const NOUNS = ['ant', 'bass', 'crane', 'deer', 'eel', 'finch', 'gnu', 'hare', 'ibis', 'jay', 'koi', 'lark', 'mole', 'newt', 'owl', 'puma', 'quail', 'ram', 'seal', 'toad'];

/** A readable default run name like MLflow's ("bold-owl-123"), so runs are told apart in lists. */
export function randomRunName(): string {
  const pick = (words: string[]) => words[Math.floor(Math.random() * words.length)]!;
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${Math.floor(Math.random() * 1000)}`;
}
