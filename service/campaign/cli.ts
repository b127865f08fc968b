// Placeholder until the Campaign side lands: webhooks register|list|verify|remove, eligibility.
import type { Command } from 'commander';
export function registerCampaignCommands(_program: Command): void {}
