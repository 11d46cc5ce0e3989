/** Registers the commands that live outside main.ts (kept apart so main stays small). */
export {};
