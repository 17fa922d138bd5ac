module supervisor/integrations/go

go 1.19
