-- AlterTable
ALTER TABLE "sessions" DROP COLUMN "previous_token_hash";
