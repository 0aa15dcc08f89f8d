SELECT sys.objects.name, count(sys.parameters.parameter_id) AS arity 
FROM sys.objects LEFT OUTER JOIN sys.parameters ON sys.parameters.object_id = sys.objects.object_id AND sys.parameters.parameter_id > 0 
WHERE sys.objects.schema_id = schema_id('CDN') AND sys.objects.name IN ('SumaWartosciKredytuKontrahenta', 'SumaWartosciKredytuTerminKontrahenta') GROUP BY sys.objects.name
