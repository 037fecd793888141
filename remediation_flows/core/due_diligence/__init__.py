"""The yearly due-diligence cycle: risk assessment, policies, training, monitoring, communication."""
