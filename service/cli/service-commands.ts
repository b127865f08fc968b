// Placeholder until the service foundation lands: serve, status, replay.
import type { Command } from 'commander';
export function registerServiceCommands(_program: Command): void {}
