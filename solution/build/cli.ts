// Placeholder until the packager lands: solution build.
import type { Command } from 'commander';
export function registerSolutionCommands(_program: Command): void {}
