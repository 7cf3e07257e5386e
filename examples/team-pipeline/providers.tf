# The team deploys to one region, written here as a literal (no variable): tests run in it too.
provider "aws" {
  region = "eu-west-1"
}
